import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test, expect, open, login, device, sessionToken, ADMIN, ADMIN_PASSWORD } from "./fixtures";

test("a device's readings appear live, and revoking it from the UI cuts it off", async ({ page, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const token = await sessionToken(page);

  const dir = mkdtempSync(path.join(tmpdir(), "vigil-e2e-"));
  device(["enroll", "--registration-id", "e2e-boiler", "--name", "Boiler", "--out", dir], token);
  await open(page, "/");
  const row = page.getByTestId("device-row-e2e-boiler");
  await expect(row.getByTestId("device-status")).toHaveText("active");
  await expect(page.locator('[data-live="ready"]')).toHaveCount(1);

  // Live: no reload between sending and seeing.
  device(["send", "--dir", dir, "temperature=21.5C"]);
  await expect(row.getByTestId("device-latest")).toHaveText("temperature: 21.5C");

  await row.getByRole("link", { name: "e2e-boiler" }).click();
  await expect(page.getByRole("heading", { name: "Boiler" })).toBeVisible();
  await expect(page.getByTestId("chart-temperature")).toBeVisible();
  await expect(page.locator('[data-live="ready"]')).toHaveCount(1);
  device(["send", "--dir", dir, "temperature=23.25C"]);
  await expect(page.getByTestId("latest-temperature")).toHaveText("23.25");
  await expect(page.getByTestId("history-table")).toContainText("21.5C");

  await page.getByRole("button", { name: "Revoke device" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Revoke e2e-boiler" }).click();
  await expect(page.getByTestId("device-status")).toHaveText("revoked");
  expect(() => device(["send", "--dir", dir, "temperature=1"])).toThrow(/refused/);
});

test("a device's charts show the last day summed up by the server, and go back to live", async ({ page, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const token = await sessionToken(page);
  const dir = mkdtempSync(path.join(tmpdir(), "vigil-e2e-"));
  device(["enroll", "--registration-id", "e2e-ranged", "--name", "Ranged", "--out", dir], token);
  device(["send", "--dir", dir, "pressure=1013hPa", "flow=2.5"]);
  device(["send", "--dir", dir, "pressure=1015hPa"]);
  await open(page, "/");
  await page.getByTestId("device-row-e2e-ranged").getByRole("link", { name: "e2e-ranged" }).click();
  await expect(page.getByRole("heading", { name: "Ranged" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Live (last 10 minutes)" })).toBeVisible();

  const range = page.getByRole("group", { name: "Chart range" });
  await range.getByRole("button", { name: "24 h" }).click();
  await expect(range.getByRole("button", { name: "24 h" })).toHaveAttribute("aria-pressed", "true");
  await expect(page.getByRole("heading", { name: "Last 24 h" })).toBeVisible();
  const charts = page.getByTestId("range-charts");
  await expect(charts.getByTestId("chart-pressure")).toBeVisible();
  await expect(charts.getByTestId("chart-flow")).toBeVisible();
  await expect(charts.getByTestId("range-count-pressure")).toHaveText("Average per 12 min; 2 readings");
  await expect(charts.getByTestId("range-count-flow")).toHaveText("Average per 12 min; 1 reading");
  // The live charts are hidden, not gone: the stream stays open.
  await expect(page.locator('[data-live="ready"]')).toBeHidden();

  await range.getByRole("button", { name: "Live" }).click();
  await expect(page.getByTestId("range-charts")).toHaveCount(0);
  await expect(page.getByTestId("chart-pressure")).toBeVisible();
  device(["send", "--dir", dir, "pressure=1020hPa"]);
  await expect(page.getByTestId("latest-pressure")).toHaveText("1020");

  // By keyboard: the chart takes the focus and its arrows walk the
  // readings; the other chart's cursor follows the same moment.
  const chart = page.getByRole("img", { name: /^pressure over time/ });
  await chart.focus();
  await page.keyboard.press("End");
  await expect(page.getByTestId("cursor-pressure")).toContainText("1020 at");
  await expect(page.getByTestId("chart-pressure").getByTestId("chart-cursor")).toHaveCount(1);
  await expect(page.getByTestId("cursor-flow")).toContainText("2.50 at");
  await page.keyboard.press("ArrowLeft");
  await expect(page.getByTestId("cursor-pressure")).toContainText("1015 at");
  await page.keyboard.press("Home");
  await expect(page.getByTestId("cursor-pressure")).toContainText("1013 at");
  await page.keyboard.press("ArrowLeft");
  await expect(page.getByTestId("cursor-pressure")).toContainText("1013 at");
  await page.keyboard.press("Escape");
  await expect(page.getByTestId("cursor-pressure")).toHaveText("");
  await expect(page.getByTestId("chart-cursor")).toHaveCount(0);
});

test("a viewer cannot reach administration", async ({ page, request, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const token = await sessionToken(page);
  const res = await request.post("/api/v1/users", {
    headers: { "x-access-token": token },
    data: { username: "e2e-viewer", password: "quiet-viewer-pelican-47", role: "viewer" },
  });
  expect(res.status()).toBe(201);
  await page.getByRole("button", { name: "Log out" }).click();
  await login(page, "e2e-viewer", "quiet-viewer-pelican-47");
  await expect(page.getByTestId("welcome")).toContainText("(viewer)");
  await expect(page.getByRole("link", { name: "Admin" })).toHaveCount(0);
  await open(page, "/admin");
  await expect(page.getByTestId("admin-forbidden")).toBeVisible();
  await expect(page.getByRole("heading", { name: "Users" })).toHaveCount(0);
});

test("the overview's cards count the fleet and lead to the devices behind each figure", async ({ page, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const token = await sessionToken(page);
  const within = page.getByTestId("online-within");
  const figure = async (id: string) => Number(await page.getByTestId(id).textContent());

  // The run's data are younger than an hour: what a day's window adds
  // later is only what this test does.
  await within.selectOption("3600");
  await expect(page.getByTestId("fleet-cards")).toBeVisible();
  await expect(page.getByTestId("readings-sparkline")).toHaveAttribute("aria-label", /highest \d+/);
  const online = await figure("summary-online");
  const offline = await figure("summary-offline");
  const revoked = await figure("summary-revoked");
  await expect(page.getByTestId("summary-failed-logins")).toBeVisible();

  const heard = mkdtempSync(path.join(tmpdir(), "vigil-e2e-"));
  device(["enroll", "--registration-id", "e2e-card-heard", "--name", "Heard", "--out", heard], token);
  device(["send", "--dir", heard, "level=3"]);
  const silent = mkdtempSync(path.join(tmpdir(), "vigil-e2e-"));
  device(["enroll", "--registration-id", "e2e-card-silent", "--name", "Silent", "--out", silent], token);

  // Last-seen times reach the database within VIGIL_LAST_SEEN_FLUSH (5 s):
  // changing the window fetches the figures anew until they show it.
  await expect(async () => {
    await within.selectOption("3600");
    await within.selectOption("86400");
    await expect(page.getByTestId("summary-online")).toHaveText(String(online + 1), { timeout: 1000 });
  }).toPass({ timeout: 15_000 });
  await expect(page.getByTestId("summary-offline")).toHaveText(String(offline + 1));
  await expect(page.getByTestId("summary-revoked")).toHaveText(String(revoked));

  // Each card opens the devices list with its filter set.
  await page.getByRole("link", { name: /^Online/ }).click();
  await expect(page).toHaveURL(/status=online&within=86400/);
  await expect(page.getByTestId("devices-status-filter")).toHaveValue("online");
  await expect(page.getByTestId("device-row-e2e-card-heard")).toBeVisible();
  await expect(page.getByTestId("device-row-e2e-card-silent")).toHaveCount(0);
  await page.getByRole("link", { name: /^Offline/ }).click();
  await expect(page.getByTestId("devices-status-filter")).toHaveValue("offline");
  await expect(page.getByTestId("device-row-e2e-card-silent")).toBeVisible();
  await expect(page.getByTestId("device-row-e2e-card-heard")).toHaveCount(0);
});
