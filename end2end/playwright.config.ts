import { defineConfig } from "@playwright/test";
import { randomBytes } from "node:crypto";
import path from "node:path";

// One admin password per run, generated here and handed to the server and
// the tests through the environment (workers inherit it).
process.env.VIGIL_E2E_ADMIN_PASSWORD ??= randomBytes(18).toString("base64url");
const port = process.env.VIGIL_E2E_PORT ?? "18443";
const southPort = process.env.VIGIL_E2E_SOUTH_PORT ?? "18444";
const mqttPort = process.env.VIGIL_E2E_MQTT_PORT ?? "18445";
const mqttNorthPort = process.env.VIGIL_E2E_MQTT_NORTH_PORT ?? "18446";
const root = path.resolve(__dirname, "..");
const dataDir = path.join(root, "target", "e2e-data");

export default defineConfig({
  testDir: "./tests",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 30_000,
  reporter: [["list"]],
  outputDir: "./test-results",
  use: {
    baseURL: `https://127.0.0.1:${port}`,
    ignoreHTTPSErrors: true,
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
      ],
    },
  },
  webServer: {
    // A fresh data dir each run: the first start creates the admin.
    command: `rm -rf "${dataDir}" && exec "${path.join(root, "target", "debug", "vigil")}"`,
    cwd: root,
    url: `https://127.0.0.1:${port}/healthz`,
    ignoreHTTPSErrors: true,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore",
    stderr: "pipe",
    env: {
      VIGIL_DATA_DIR: dataDir,
      VIGIL_HTTPS_ADDR: `127.0.0.1:${port}`,
      VIGIL_DEVICE_ADDR: `127.0.0.1:${southPort}`,
      VIGIL_MQTT_ADDR: `127.0.0.1:${mqttPort}`,
      VIGIL_MQTT_NORTH_ADDR: `127.0.0.1:${mqttNorthPort}`,
      VIGIL_ADMIN_USER: "admin",
      VIGIL_ADMIN_PASSWORD: process.env.VIGIL_E2E_ADMIN_PASSWORD,
      VIGIL_SITE_ROOT: path.join(root, "target", "site"),
      VIGIL_LOG: "warn",
    },
  },
});
