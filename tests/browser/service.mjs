// Starts `storage-signer serve --dev` on free ports for a browser test and reports its page's
// URL and the dev store's address. STORAGE_SIGNER_BIN names the binary (default
// ../../target/debug/storage-signer).

import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.env.STORAGE_SIGNER_BIN || resolve(here, "../../target/debug/storage-signer");

/** Resolves with {child, pageUrl, storeUrl} once the service and its store listen. */
export function startService(env = {}) {
  return new Promise((resolvePage, reject) => {
    const child = spawn(binary, ["serve", "--dev"], {
      env: { PATH: process.env.PATH, PORT: "0", DEV_STORE_PORT: "0",
             XDG_RUNTIME_DIR: mkdtempSync(join(tmpdir(), "storage-signer-browser-")), ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`storage-signer exited with ${code}`)));
    let address;
    let store;
    createInterface({ input: child.stdout }).on("line", (line) => {
      let record;
      try { record = JSON.parse(line); } catch { return; }
      if (record.message === "listening") address = record.address;
      if (record.message?.startsWith("dev store listening")) store = record.address;
      if (address && store) {
        clearTimeout(timer);
        resolvePage({ child, pageUrl: `http://${address}/`, storeUrl: `http://${store}` });
      }
    });
    const timer = setTimeout(() => reject(new Error("storage-signer did not report its addresses")), 20000);
  });
}

/** Stops a service started by startService. */
export function stopService(service) {
  service?.child.removeAllListeners("exit");
  service?.child.kill("SIGTERM");
}

export const chromiumOptions = {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  // launch() starts Chromium with a fresh, temporary profile of its own.
};
