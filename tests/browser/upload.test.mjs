// The dev demo page, driven in Debian's Chromium: a file with a Unicode name goes through the
// page straight to the local verifying store and comes back byte for byte; a refused upload
// (an overwrite the signed URL forbids) shows its error. Run by scripts/test after the build.
//
// Needs /usr/bin/chromium (Debian package `chromium`) and `npm ci` here; STORAGE_SIGNER_BIN
// names the binary (default ../../target/debug/storage-signer).

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

import { chromiumOptions, startService, stopService } from "./service.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = resolve(here, "../../artifacts");

/** A 320x160 PNG drawn by the browser itself (no image library needed here). */
async function drawPng(page, label) {
  const dataUrl = await page.evaluate((text) => {
    const canvas = document.createElement("canvas");
    canvas.width = 320;
    canvas.height = 160;
    const context = canvas.getContext("2d");
    const gradient = context.createLinearGradient(0, 0, 320, 160);
    gradient.addColorStop(0, "#2b6cb0");
    gradient.addColorStop(1, "#38a169");
    context.fillStyle = gradient;
    context.fillRect(0, 0, 320, 160);
    context.fillStyle = "white";
    context.font = "bold 28px sans-serif";
    context.fillText(text, 20, 92);
    return canvas.toDataURL("image/png");
  }, label);
  return Buffer.from(dataUrl.split(",")[1], "base64");
}

let service;
let browser;
let pageUrl;

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  service = await startService();
  pageUrl = service.pageUrl;
  browser = await chromium.launch(chromiumOptions);
});

after(async () => {
  await browser?.close();
  stopService(service);
});

/** Picks `file` in the page's file input, chooses `version`, clicks Upload, waits for a result. */
async function upload(page, file, version) {
  await page.setInputFiles("#file", file);
  await page.check(`input[name=version][value=${version}]`);
  await page.click("#upload");
  await page.waitForSelector("#status.ok, #status.error", { timeout: 20000 });
  return { kind: await page.getAttribute("#status", "class"), text: await page.textContent("#status") };
}

test("a file with a Unicode name goes up through the page and comes back byte for byte", async () => {
  const page = await browser.newPage();
  const failures = [];
  page.on("pageerror", (error) => failures.push(error.message));
  // Every request the page makes by itself is answered (no /favicon.ico 404, say).
  page.on("response", (response) => {
    if (response.status() === 404) failures.push(`404 for ${new URL(response.url()).pathname}`);
  });
  await page.goto(pageUrl);
  const PNG = await drawPng(page, "storage-signer ✓");

  // The CJK part of the name also goes to the store; Debian's Chromium may lack the font to
  // draw it in the screenshot, which changes nothing here.
  for (const version of ["v2", "v4"]) {
    const file = { name: `${version} фото ü+#1 日本.png`, mimeType: "image/png", buffer: PNG };
    const result = await upload(page, file, version);
    assert.equal(result.kind, "ok", `${version}: ${result.text}`);
    assert.match(result.text, /Uploaded/);
    assert.equal(await page.evaluate(() => document.getElementById("progress").value), 1);

    // The bytes that come back through the read URL are the bytes that went up.
    const href = await page.getAttribute("#download", "href");
    const back = await page.evaluate(async (url) => {
      const response = await fetch(url);
      return { status: response.status, disposition: response.headers.get("content-disposition"),
               bytes: Array.from(new Uint8Array(await response.arrayBuffer())) };
    }, href);
    assert.equal(back.status, 200);
    assert.deepEqual(Buffer.from(back.bytes), PNG);
    // The link saves under the file's own name: the signed response-content-disposition.
    const encoded = encodeURIComponent(file.name).replace(/['()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
    assert.equal(back.disposition, `attachment; filename*=UTF-8''${encoded}`);
    // The image shows.
    await page.waitForFunction(() => document.querySelector("#result img")?.naturalWidth === 320);
  }

  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, "demo-page.png"), fullPage: true });
  assert.deepEqual(failures, []);
  await page.close();
});

test("a refused upload shows the storage error on the page", async () => {
  const page = await browser.newPage();
  await page.goto(pageUrl);
  const path = { name: "twice ü.png", mimeType: "image/png", buffer: await drawPng(page, "twice") };
  assert.equal((await upload(page, path, "v4")).kind, "ok");
  // The upload URL forbids overwriting (x-goog-if-generation-match: 0 is signed): the store says no.
  const refused = await upload(page, path, "v4");
  assert.equal(refused.kind, "error");
  assert.match(refused.text, /storage refused the upload \(412 PreconditionFailed\)/);
  await page.screenshot({ path: join(artifacts, "demo-page-refused.png"), fullPage: true });
  await page.close();
});

test("a signed-in demo user uploads into their own folder and is refused another user's", async () => {
  const page = await browser.newPage();
  const failures = [];
  page.on("pageerror", (error) => failures.push(error.message));
  await page.goto(pageUrl);
  assert.equal(await page.isVisible("#signin"), true, "dev mode offers the demo users");
  await page.click("#signin-alice");
  await page.waitForFunction(() => document.getElementById("who").textContent.includes("alice"));

  const file = { name: "alice ü.png", mimeType: "image/png", buffer: await drawPng(page, "alice") };
  const result = await upload(page, file, "v4");
  assert.equal(result.kind, "ok", result.text);
  assert.match(result.text, /to users\/alice\//);
  const href = await page.getAttribute("#download", "href");
  assert.match(href, /\/dev-bucket\/users\/alice\/alice%20%C3%BC\.png\?/);
  await page.waitForFunction(() => document.querySelector("#result img")?.naturalWidth === 320);

  // The demo app's rule is users/{sub}/**: alice's token gets no URL for bob's folder.
  await page.click("#intrude");
  await page.waitForSelector("#status.error");
  const refused = await page.textContent("#status");
  assert.match(refused, /storage-signer refused \(403\)/);
  assert.match(refused, /path \/dev-bucket\/users\/bob\/intrusion\.txt is not allowed/);
  await page.screenshot({ path: join(artifacts, "demo-page-signed-in-refused.png"), fullPage: true });

  // Signed out, the page is the anonymous caller again (dev mode's open mode).
  await page.click("#signout");
  assert.match(await page.textContent("#who"), /Not signed in/);
  assert.deepEqual(failures, []);
  await page.close();
});

test("asking for nothing shows a plain error", async () => {
  const page = await browser.newPage();
  await page.goto(pageUrl);
  await page.click("#upload");
  assert.equal(await page.textContent("#status"), "Pick a file first.");
  assert.equal(await page.getAttribute("#status", "class"), "error");
  await page.close();
});

test("the API reference renders every operation from /openapi.json", async () => {
  const page = await browser.newPage();
  const failures = [];
  page.on("pageerror", (error) => failures.push(error.message));
  page.on("response", (response) => {
    if (response.status() === 404) failures.push(`404 for ${new URL(response.url()).pathname}`);
  });
  await page.goto(new URL("/docs", pageUrl).href);
  await page.waitForSelector("#issue_secret", { timeout: 10000 });
  for (const id of ["issue_secret", "issue_secrets", "issue_upload_policy", "healthz", "readyz"]) {
    assert.ok(await page.$(`#${id}`), `operation ${id} is shown`);
  }
  assert.match(await page.textContent("#api"), /x-goog-if-generation-match|if_generation_match/);
  assert.ok(await page.$("#schema-SecretResponse"), "schemas are listed");
  await page.screenshot({ path: join(artifacts, "api-page.png") });
  assert.deepEqual(failures, []);
  await page.close();
});
