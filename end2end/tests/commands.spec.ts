import { execFileSync, spawn, ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test, expect, open, login, ADMIN, ADMIN_PASSWORD, sessionToken } from "./fixtures";

const root = path.resolve(__dirname, "..", "..");
const port = process.env.VIGIL_E2E_PORT ?? "18443";
const southPort = process.env.VIGIL_E2E_SOUTH_PORT ?? "18444";
const bin = path.join(root, "target", "debug", "vigil-device");
const env = (token = "") => ({
  ...process.env,
  VIGIL_TOKEN: token,
  VIGIL_NORTH_URL: `https://127.0.0.1:${port}`,
  VIGIL_SOUTH_URL: `https://127.0.0.1:${southPort}`,
  VIGIL_CA: path.join(root, "target", "e2e-data", "pki", "platform-ca.pem"),
});

/** Enrolls a device with the real CLI into a new directory. */
function enroll(registrationId: string, token: string): { dir: string; id: number } {
  const dir = mkdtempSync(path.join(tmpdir(), "vigil-e2e-"));
  const out = execFileSync(bin, ["enroll", "--registration-id", registrationId, "--out", dir], {
    cwd: root,
    encoding: "utf8",
    env: env(token),
  });
  return { dir, id: JSON.parse(out).id };
}

let listener: ChildProcess | undefined;
test.afterEach(() => {
  listener?.kill("SIGKILL");
  listener = undefined;
});

test("an operator's command reaches a listening device and its answer appears live", async ({ page, request, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const admin = await sessionToken(page);
  const res = await request.post("/api/v1/users", {
    headers: { "x-access-token": admin },
    data: { username: "e2e-operator", password: "brisk-operator-lantern-58", role: "operator" },
  });
  expect(res.status()).toBe(201);
  const { dir, id } = enroll("e2e-pump", admin);
  // The device's program: answers with what it was asked.
  const script = path.join(dir, "pump.sh");
  writeFileSync(script, '#!/bin/sh\ninput=$(cat)\nprintf \'{"pumped": %s}\\n\' "$input"\n');
  chmodSync(script, 0o700);
  listener = spawn(bin, ["listen", "--dir", dir, "--exec", script], { cwd: root, env: env(), stdio: "ignore" });

  await page.getByRole("button", { name: "Log out" }).click();
  await login(page, "e2e-operator", "brisk-operator-lantern-58");
  await expect(page.getByTestId("welcome")).toBeVisible();
  await open(page, `/devices/${id}`);
  await expect(page.locator('[data-live="ready"]')).toHaveCount(1);
  const form = page.getByTestId("command-form");
  await form.getByLabel("Name").fill("start-pump");
  // Checked before sending: not JSON, not sent.
  await form.getByLabel("Payload (JSON, optional)").fill("{litres: 5}");
  await form.getByRole("button", { name: "Send" }).click();
  await expect(page.getByRole("alert")).toContainText("not valid JSON");
  await expect(page.getByTestId("no-commands")).toBeVisible();

  await form.getByLabel("Payload (JSON, optional)").fill('{"litres": 5}');
  await form.getByRole("button", { name: "Send" }).click();
  const row = page.getByTestId("command-row").first();
  // No reload: the status follows the live stream to the end.
  await expect(row.getByTestId("command-status")).toHaveText("succeeded");
  await expect(row.getByTestId("command-result")).toContainText('"litres": 5');
  await expect(row.getByTestId("command-result")).toContainText('"pumped"');
  await expect(row.getByRole("button", { name: "Cancel" })).toHaveCount(0);

  // The devices table counts open commands.
  listener.kill("SIGKILL");
  listener = undefined;
  await form.getByLabel("Name").fill("stop-pump");
  await form.getByLabel("Payload (JSON, optional)").fill("");
  await form.getByRole("button", { name: "Send" }).click();
  // Queued; or delivered, if the killed listener's poll was still open.
  await expect(page.getByTestId("command-row").first().getByTestId("command-status")).toHaveText(/queued|delivered/);
  await open(page, "/");
  const deviceRow = page.getByTestId("device-row-e2e-pump");
  await expect(deviceRow.getByTestId("device-open-commands")).toHaveText("1");
  await deviceRow.getByRole("link", { name: "e2e-pump" }).click();
  await page.getByTestId("command-row").first().getByRole("button", { name: "Cancel" }).click();
  await expect(page.getByTestId("command-row").first().getByTestId("command-status")).toHaveText("cancelled");
});

test("a viewer sees a device's commands but no form, and an unanswered command expires", async ({ page, request, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const admin = await sessionToken(page);
  const { id } = enroll("e2e-silent", admin);
  // Nobody listens on this device: five seconds, then expired.
  await open(page, `/devices/${id}`);
  await expect(page.locator('[data-live="ready"]')).toHaveCount(1);
  const form = page.getByTestId("command-form");
  await form.getByLabel("Name").fill("ping");
  await form.getByLabel("Time to answer (s)").fill("5");
  await form.getByRole("button", { name: "Send" }).click();
  const row = page.getByTestId("command-row").first();
  await expect(row.getByTestId("command-status")).toHaveText("queued");
  await expect(row.getByTestId("command-status")).toHaveText("expired", { timeout: 10_000 });

  const res = await request.post("/api/v1/users", {
    headers: { "x-access-token": admin },
    data: { username: "e2e-watcher", password: "calm-watcher-orchid-83", role: "viewer" },
  });
  expect(res.status()).toBe(201);
  await page.getByRole("button", { name: "Log out" }).click();
  await login(page, "e2e-watcher", "calm-watcher-orchid-83");
  await expect(page.getByTestId("welcome")).toContainText("(viewer)");
  await open(page, `/devices/${id}`);
  await expect(page.getByTestId("command-row")).toHaveCount(1);
  await expect(page.getByTestId("command-row").first().getByTestId("command-status")).toHaveText("expired");
  await expect(page.getByTestId("command-form")).toHaveCount(0);
});
