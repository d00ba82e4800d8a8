// The README's browser example, run as it stands in the README, in Debian's Chromium, from a
// page on another origin than storage-signer's: a token from the dev identity provider, a
// signed upload URL with Uppy's getUploadParameters shape, an XHR upload with progress, a
// download saved under a name, a refusal for another user's folder, and CORS: an allowed
// origin works, another one cannot read the API's answers.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

import { chromiumOptions, startService, stopService } from "./service.mjs";

const here = dirname(fileURLToPath(import.meta.url));

/** The js block that follows the `browser-example` marker in the README. */
function readmeExample() {
  const readme = readFileSync(resolve(here, "../../README.md"), "utf8");
  const marker = readme.indexOf("<!-- browser-example:");
  assert.ok(marker >= 0, "the README has the browser example");
  const block = readme.slice(marker).match(/```js\n([\s\S]*?)```/);
  assert.ok(block, "the marker is followed by a js block");
  return block[1];
}

let pages;      // the page server: a second local origin
let pageOrigin;
let service;
let browser;

before(async () => {
  let example = readmeExample();
  pages = createServer((request, response) => {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    response.end(`<!doctype html><html><body><input type="file" id="file">
<progress id="progress" max="1" value="0"></progress><script>${example}</script></body></html>`);
  });
  await new Promise((done) => pages.listen(0, "127.0.0.1", done));
  pageOrigin = `http://127.0.0.1:${pages.address().port}`;
  service = await startService({ KNOWN_BUCKETS: "uploads", CORS_ALLOWED_ORIGINS: pageOrigin,
                                 DEV_STORE_CORS_ORIGINS: pageOrigin });
  const signer = service.pageUrl.replace(/\/$/, "");
  const placeholder = 'const SIGNER = "https://signer.example.com";';
  assert.ok(example.includes(placeholder), "the example names storage-signer's origin once");
  example = example.replace(placeholder, `const SIGNER = ${JSON.stringify(signer)};`);
  browser = await chromium.launch(chromiumOptions);
});

after(async () => {
  await browser?.close();
  stopService(service);
  pages?.close();
});

/** A token for `user` from the dev identity provider, fetched by the page (CORS there too). */
async function signIn(page, user) {
  return page.evaluate(async ({ idp, user }) => {
    const response = await fetch(`${idp}/token`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user }),
    });
    return (await response.json()).id_token;
  }, { idp: `${service.storeUrl}/_idp`, user });
}

test("the README example uploads with progress from another origin and reads back with a name", async () => {
  const page = await browser.newPage();
  const failures = [];
  page.on("pageerror", (error) => failures.push(error.message));
  await page.goto(`${pageOrigin}/app`);
  const token = await signIn(page, "alice");
  const bytes = Buffer.alloc(256 * 1024, 7); // large enough for progress events
  await page.setInputFiles("#file", { name: "holiday photo.png", mimeType: "image/png", buffer: bytes });

  const outcome = await page.evaluate(async (idToken) => {
    const steps = [];
    const watched = document.getElementById("progress");
    const read = await uploadPicked("alice", idToken);
    steps.push(watched.value);
    const response = await fetch(read.url);
    return { progress: steps, status: response.status,
             disposition: response.headers.get("content-disposition"),
             size: (await response.arrayBuffer()).byteLength, readMethod: read.method };
  }, token);
  assert.deepEqual(outcome.progress, [1], "the progress bar reached the end");
  assert.equal(outcome.status, 200);
  assert.equal(outcome.size, bytes.length);
  assert.equal(outcome.disposition, "attachment");
  assert.equal(outcome.readMethod, "GET");

  // What signedUrl returns is Uppy's getUploadParameters contract.
  const params = await page.evaluate(async (idToken) => {
    const data = await signedUrl({ action: "PUT", bucket: "uploads", resource_id: "users/alice/uppy.png",
                                   content_type: "image/png", version: "v4" }, idToken);
    return { method: data.method, url: typeof data.url, fields: data.fields,
             headers: data.headers, sameUrl: data.url === data.secret_url };
  }, token);
  assert.equal(params.method, "PUT");
  assert.equal(params.url, "string");
  assert.equal(params.sameUrl, true);
  assert.deepEqual(params.fields, {});
  assert.equal(params.headers["Content-Type"], "image/png");
  assert.deepEqual(failures, []);
  await page.close();
});

test("a user's token gets no URL for another user's folder, with the API's message readable", async () => {
  const page = await browser.newPage();
  await page.goto(`${pageOrigin}/app`);
  const token = await signIn(page, "alice");
  const refused = await page.evaluate(async (idToken) => {
    try {
      await signedUrl({ action: "PUT", bucket: "uploads", resource_id: "users/bob/x.png",
                        content_type: "image/png", version: "v4" }, idToken);
      return "issued";
    } catch (error) {
      return error.message;
    }
  }, token);
  assert.match(refused, /path \/uploads\/users\/bob\/x\.png is not allowed for PUT/);
  await page.close();
});

test("a page on an origin that is not allowed cannot read the API's answers", async () => {
  const page = await browser.newPage();
  // localhost is another origin than 127.0.0.1, though the same server.
  await page.goto(`http://localhost:${pages.address().port}/app`);
  const outcome = await page.evaluate(async () => {
    try {
      await signedUrl({ action: "GET", bucket: "uploads", resource_id: "users/alice/x" }, "no.token.here");
      return "read";
    } catch (error) {
      return `${error.name}: ${error.message}`;
    }
  });
  assert.match(outcome, /TypeError: Failed to fetch/);
  await page.close();
});
