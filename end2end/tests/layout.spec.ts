import { test, expect, open, login, ADMIN, ADMIN_PASSWORD } from "./fixtures";

test("an unknown address shows the not-found page inside the normal layout", async ({ page, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const res = await page.goto("/devices");
  expect(res?.status()).toBe(404);
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
  await expect(page.getByRole("main").getByRole("heading", { name: "Page not found" })).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Log out" })).toBeVisible();
  // The page's own 404 is what this test asked for; nothing else failed.
  expect(errors.length).toBeGreaterThan(0);
  expect(errors.every((e) => e.includes("404"))).toBe(true);
  errors.length = 0;
});

test("a double click on Create user creates the user once", async ({ page }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  await open(page, "/admin");
  const users = page.locator("section", { has: page.getByRole("heading", { name: "Users" }) });
  await users.getByLabel("Username", { exact: true }).fill("e2e-twice");
  await users.getByLabel("Password", { exact: true }).fill("violet-anchor-91-harbour");
  await users.getByRole("button", { name: "Create user" }).dblclick();
  await expect(users.getByRole("cell", { name: "e2e-twice", exact: true })).toHaveCount(1);
  // A second request would have answered 409 (the fixture fails on it) and
  // shown an alert.
  await page.waitForLoadState("networkidle");
  await expect(users.getByRole("alert")).toHaveCount(0);
});
