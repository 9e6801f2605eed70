import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Locator, Page } from "@playwright/test";
import { test, expect, open, login, expectAccessible, device, sessionToken, ADMIN, ADMIN_PASSWORD } from "./fixtures";

/** Enrolls a device by a thumbprint through the API (no certificate needed for the list). */
async function enrollByThumbprint(page: Page, token: string, registrationId: string, name: string): Promise<number> {
  const res = await page.request.post("/api/v1/devices", {
    headers: { "x-access-token": token },
    data: { registration_id: registrationId, name, cert_sha256: randomBytes(32).toString("hex") },
  });
  expect(res.status()).toBe(201);
  return (await res.json()).device.id;
}

/** Presses Tab until `target` has the focus: the page is driven by keyboard only. */
async function tabTo(page: Page, target: Locator, max = 60) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    if (await target.evaluate((el) => el === document.activeElement)) return;
  }
  throw new Error(`Tab never reached ${target}`);
}

test("the devices list is searched, sorted and paged by the server", async ({ page, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const token = await sessionToken(page);
  for (let i = 0; i < 55; i++) {
    await enrollByThumbprint(page, token, `e2e-page-${String(i).padStart(2, "0")}`, `Paged ${i}`);
  }
  await open(page, "/");
  await page.getByLabel("Search").fill("E2E-PAGE");
  await expect(page.getByTestId("devices-shown")).toHaveText("1–50 of 55");
  const rows = page.getByTestId("devices-table").locator("tbody tr");
  await expect(rows).toHaveCount(50);
  await expect(rows.first()).toHaveAttribute("data-testid", "device-row-e2e-page-00");

  const pages = page.getByRole("navigation", { name: "Device pages" });
  await pages.getByRole("button", { name: "Next" }).click();
  await expect(page.getByTestId("devices-shown")).toHaveText("51–55 of 55");
  await expect(rows).toHaveCount(5);
  await expect(pages.getByRole("button", { name: "Next" })).toBeDisabled();
  await pages.getByRole("button", { name: "Previous" }).click();
  await expect(page.getByTestId("devices-shown")).toHaveText("1–50 of 55");

  // A heading sorts; a second click reverses, and says so to assistive technology.
  const heading = page.getByRole("columnheader", { name: /Registration id/ });
  await heading.getByRole("button").click();
  await expect(heading).toHaveAttribute("aria-sort", "descending");
  await expect(rows.first()).toHaveAttribute("data-testid", "device-row-e2e-page-54");
  await expect(page.getByTestId("devices-shown")).toHaveText("1–50 of 55");

  // Never seen: "never"; the relative time carries the exact time on hover.
  await expect(rows.first().locator("td").nth(3)).toHaveText("never");
  await expectAccessible(page);
});

test("revoking a token asks first, names the token, and tells the outcome", async ({ page, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  // A second session of the admin, to be revoked from the first.
  const other = await page.request.post("/api/v1/auth/login", { data: { username: ADMIN, password: ADMIN_PASSWORD } });
  const { token_id: victim, token: victimToken } = await other.json();
  await open(page, "/admin");
  const tokens = page.locator("section", { has: page.getByRole("heading", { name: "Tokens" }) });
  await tokens.getByLabel("Kind").selectOption("user");
  await tokens.getByRole("button", { name: "Filter" }).click();
  const row = tokens.getByRole("row", { name: new RegExp(victim) });
  await row.getByRole("button", { name: "Revoke" }).click();

  const dialog = page.getByRole("dialog");
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText(victim);
  await expectAccessible(page);
  // Cancel (Escape) leaves the token alone.
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  let res = await page.request.get("/api/v1/auth/me", { headers: { "x-access-token": victimToken } });
  expect(res.status()).toBe(200);

  await row.getByRole("button", { name: "Revoke" }).click();
  await dialog.getByRole("button", { name: "Revoke token" }).click();
  await expect(page.getByTestId("toast").filter({ hasText: "revoked" })).toBeVisible();
  res = await page.request.get("/api/v1/auth/me", { headers: { "x-access-token": victimToken } });
  expect(res.status()).toBe(401);

  // The revoked list shows it; the audit log finds the revocation by its id.
  await tokens.getByLabel("State").selectOption("revoked");
  await tokens.getByRole("button", { name: "Filter" }).click();
  await expect(tokens.getByRole("row", { name: new RegExp(victim) })).toContainText("admin_revoked");
  const audit = page.locator("section", { has: page.getByRole("heading", { name: "Audit log" }) });
  await audit.getByLabel("Event").selectOption("token_revoked");
  await audit.getByLabel("Search").fill(victim.slice(0, 12));
  await audit.getByRole("button", { name: "Show entries" }).click();
  await expect(audit.getByTestId("audit-shown")).toHaveText("1–1 of 1");
  await expect(audit.getByTestId("audit-table")).toContainText(victim);
});

test("a keyboard alone signs in, opens a device, sends a command and revokes a token", async ({ page, errors }) => {
  // A device to open, enrolled beforehand through the API.
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const id = await enrollByThumbprint(page, await sessionToken(page), "e2e-keys", "Keyboard");
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);

  await tabTo(page, page.getByLabel("Username"));
  await page.keyboard.type(ADMIN);
  await tabTo(page, page.getByLabel("Password"));
  await page.keyboard.type(ADMIN_PASSWORD);
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("welcome")).toBeVisible();

  // The skip link comes first and leads past the navigation.
  await page.keyboard.press("Tab");
  await expect(page.getByRole("link", { name: "Skip to content" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.locator("main")).toBeFocused();

  await page.getByLabel("Search").focus();
  await page.keyboard.type("e2e-keys");
  const link = page.getByTestId("device-row-e2e-keys").getByRole("link", { name: "e2e-keys" });
  await tabTo(page, link);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(new RegExp(`/devices/${id}$`));
  await expect(page.getByRole("heading", { name: "Keyboard" })).toBeVisible();

  const form = page.getByTestId("command-form");
  await tabTo(page, form.getByLabel("Name"));
  await page.keyboard.type("reboot");
  await page.keyboard.press("Enter");
  await expect(page.getByTestId("command-row").first().getByTestId("command-status")).toHaveText("queued");

  // Revoking its tokens goes through the dialog, which keeps the focus inside.
  await tabTo(page, page.getByRole("button", { name: "Revoke tokens" }));
  await page.keyboard.press("Enter");
  const dialog = page.getByRole("dialog");
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole("button", { name: "Cancel" })).toBeFocused();
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press("Tab");
    expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  }
  await dialog.getByRole("button", { name: "Revoke its tokens" }).focus();
  await page.keyboard.press("Enter");
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId("toast").filter({ hasText: "tokens are revoked" })).toBeVisible();
});

test.describe("in Tokyo, in the dark", () => {
  test.use({ timezoneId: "Asia/Tokyo", colorScheme: "dark" });

  test("times follow the browser's zone, UTC on request, and the dark theme passes axe-core", async ({ page, errors }) => {
    await login(page, ADMIN, ADMIN_PASSWORD);
    await expect(page.getByTestId("welcome")).toBeVisible();
    const token = await sessionToken(page);
    const id = await enrollByThumbprint(page, token, "e2e-tokyo", "Tokyo");
    await open(page, `/devices/${id}`);
    const enrolled = page.locator("dt", { hasText: "Enrolled" }).locator("xpath=following-sibling::dd[1]").locator("time");
    const utc = (await enrolled.getAttribute("datetime"))!;
    const tokyo = new Date(new Date(utc).getTime() + 9 * 3600_000).toISOString().slice(0, 19).replace("T", " ");
    await expect(enrolled).toHaveText(tokyo);
    await expect(enrolled).toHaveAttribute("title", /UTC$/);

    await page.getByTestId("utc-toggle").click();
    await expect(page.getByTestId("utc-toggle")).toHaveAttribute("aria-pressed", "true");
    await expect(enrolled).toHaveText(/ UTC$/);
    // The choice is kept.
    await open(page, `/devices/${id}`);
    await expect(enrolled).toHaveText(/ UTC$/);
    await page.getByTestId("utc-toggle").click();

    // Dark: the page's own background is dark, and every rule still passes.
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/[\d.]+/g)!.map(Number);
    expect(bg.startsWith("oklch") ? r : (r + g + b) / 3).toBeLessThan(bg.startsWith("oklch") ? 0.4 : 80);
    await expectAccessible(page);
    await open(page, "/admin");
  });
});

test("a device's history downloads as CSV, oldest first, through the authorized API", async ({ page, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const token = await sessionToken(page);
  const dir = mkdtempSync(path.join(tmpdir(), "vigil-e2e-"));
  const { id } = JSON.parse(device(["enroll", "--registration-id", "e2e-history", "--name", "History", "--out", dir], token));
  device(["send", "--dir", dir, "temperature=21.5C", "humidity=40%"]);
  device(["send", "--dir", dir, "temperature=22C"]);
  await open(page, `/devices/${id}`);
  await expect(page.getByTestId("history-table").locator("tbody tr")).toHaveCount(3);
  await expect(page.getByTestId("history-shown")).toHaveText("1–3");

  const download = page.waitForEvent("download");
  await page.getByRole("button", { name: "Download CSV" }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe(`device-${id}-readings.csv`);
  const lines = readFileSync((await file.path())!, "utf8").trimEnd().split("\r\n");
  expect(lines[0]).toBe("ts,sensor,value,unit");
  expect(lines).toHaveLength(4);
  expect(lines[3]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z,temperature,22,C$/);
  expect(lines.slice(1, 3).map((l) => l.split(",").slice(1).join(",")).sort()).toEqual(["humidity,40,%", "temperature,21.5,C"]);
  await expect(page.getByTestId("toast").filter({ hasText: "exported" })).toBeVisible();
});

test("a role change asks first, a cancel puts the role back, and tokens are found by owner", async ({ page, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const token = await sessionToken(page);
  const made = await page.request.post("/api/v1/users", {
    headers: { "x-access-token": token },
    data: { username: "e2e-role", password: "copper-lantern-47-meadow", role: "viewer" },
  });
  expect(made.status()).toBe(201);
  const { id } = await made.json();
  const signin = await page.request.post("/api/v1/auth/login", {
    data: { username: "e2e-role", password: "copper-lantern-47-meadow" },
  });
  const { token: theirs, token_id: theirId } = await signin.json();
  await open(page, "/admin");

  // The token registry finds their token by part of their name and names them.
  const tokens = page.locator("section", { has: page.getByRole("heading", { name: "Tokens" }) });
  await tokens.getByLabel("Owner").fill("E2E-RO");
  await tokens.getByRole("button", { name: "Filter" }).click();
  await expect(tokens.getByTestId("tokens-shown")).toHaveText("1–1 of 1");
  await expect(tokens.getByRole("row", { name: new RegExp(theirId) })).toContainText(`e2e-role (user ${id})`);

  const select = page.getByLabel("Role of e2e-role");
  await expect(select).toHaveValue("viewer");
  await select.selectOption("operator");
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText("Make e2e-role operator?");
  await expect(dialog).toContainText("now viewer");
  await expectAccessible(page);
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await expect(dialog).toBeHidden();
  await expect(select).toHaveValue("viewer");
  let me = await page.request.get("/api/v1/auth/me", { headers: { "x-access-token": theirs } });
  expect(me.status(), "a cancelled change leaves their session alone").toBe(200);

  await select.selectOption("operator");
  await dialog.getByRole("button", { name: "Make e2e-role operator" }).click();
  await expect(page.getByTestId("toast").filter({ hasText: "Role changed to operator" })).toBeVisible();
  await expect(page.getByLabel("Role of e2e-role")).toHaveValue("operator");
  me = await page.request.get("/api/v1/auth/me", { headers: { "x-access-token": theirs } });
  expect(me.status()).toBe(401);
  const users = await page.request.get("/api/v1/users", { headers: { "x-access-token": token } });
  expect((await users.json()).find((u: { id: number }) => u.id === id).role).toBe("operator");
});
