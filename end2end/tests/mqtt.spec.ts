import { execFileSync, spawn, ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test, expect, open, login, ADMIN, ADMIN_PASSWORD, sessionToken } from "./fixtures";

// The device CLI over MQTT (`--mqtt`), seen from the dashboard.
const root = path.resolve(__dirname, "..", "..");
const port = process.env.VIGIL_E2E_PORT ?? "18443";
const southPort = process.env.VIGIL_E2E_SOUTH_PORT ?? "18444";
const mqttPort = process.env.VIGIL_E2E_MQTT_PORT ?? "18445";
const bin = path.join(root, "target", "debug", "vigil-device");
const env = (token = "") => ({
  ...process.env,
  VIGIL_TOKEN: token,
  VIGIL_NORTH_URL: `https://127.0.0.1:${port}`,
  VIGIL_SOUTH_URL: `https://127.0.0.1:${southPort}`,
  VIGIL_MQTT_ADDR: `127.0.0.1:${mqttPort}`,
  VIGIL_CA: path.join(root, "target", "e2e-data", "pki", "platform-ca.pem"),
});

function device(args: string[], token = ""): string {
  return execFileSync(bin, args, { cwd: root, encoding: "utf8", env: env(token) });
}

function enroll(registrationId: string, token: string): { dir: string; id: number } {
  const dir = mkdtempSync(path.join(tmpdir(), "vigil-e2e-"));
  const out = device(["enroll", "--registration-id", registrationId, "--out", dir], token);
  return { dir, id: JSON.parse(out).id };
}

let listener: ChildProcess | undefined;
test.afterEach(() => {
  listener?.kill("SIGKILL");
  listener = undefined;
});

test("readings published over MQTT appear live on the device page", async ({ page, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const { dir, id } = enroll("e2e-mqtt-meter", await sessionToken(page));
  await open(page, `/devices/${id}`);
  await expect(page.locator('[data-live="ready"]')).toHaveCount(1);

  // No reload between publishing and seeing.
  device(["send", "--mqtt", "--dir", dir, "pressure=1.25bar"]);
  await expect(page.getByTestId("latest-pressure")).toHaveText("1.25");
  device(["send", "--mqtt", "--dir", dir, "pressure=1.75bar", "flow=3.25"]);
  await expect(page.getByTestId("latest-pressure")).toHaveText("1.75");
  await expect(page.getByTestId("latest-flow")).toHaveText("3.25");
  // And stored: after a reload, they are in the history.
  await open(page, `/devices/${id}`);
  await expect(page.getByTestId("history-table")).toContainText("1.25bar");
  await expect(page.getByTestId("history-table")).toContainText("1.75bar");
});

test("a command from the dashboard reaches a device listening over MQTT and comes back succeeded", async ({ page, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const { dir, id } = enroll("e2e-mqtt-valve", await sessionToken(page));
  const script = path.join(dir, "valve.sh");
  writeFileSync(script, '#!/bin/sh\ninput=$(cat)\nprintf \'{"valve": %s}\\n\' "$input"\n');
  chmodSync(script, 0o700);
  listener = spawn(bin, ["listen", "--mqtt", "--dir", dir, "--exec", script], { cwd: root, env: env(), stdio: "ignore" });

  await open(page, `/devices/${id}`);
  await expect(page.locator('[data-live="ready"]')).toHaveCount(1);
  const form = page.getByTestId("command-form");
  await form.getByLabel("Name").fill("open-valve");
  await form.getByLabel("Payload (JSON, optional)").fill('{"percent": 40}');
  await form.getByRole("button", { name: "Send" }).click();
  const row = page.getByTestId("command-row").first();
  await expect(row.getByTestId("command-status")).toHaveText("succeeded");
  await expect(row.getByTestId("command-result")).toContainText('"valve"');
  await expect(row.getByTestId("command-result")).toContainText('"percent": 40');
});
