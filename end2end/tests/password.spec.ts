import { test, expect, expectAccessible, open, login, ADMIN, ADMIN_PASSWORD } from "./fixtures";

const FIRST = "copper-meadow-lantern-83";
const SECOND = "silver-harbour-kestrel-27";

test("a user changes their password, and an admin resets it", async ({ page, request, errors }) => {
  // A user of this test's own, made through the API.
  const adminLogin = await request.post("/api/v1/auth/login", { data: { username: ADMIN, password: ADMIN_PASSWORD } });
  const admin = (await adminLogin.json()).token;
  const created = await request.post("/api/v1/users", {
    headers: { "x-access-token": admin },
    data: { username: "e2e-pat", password: FIRST, role: "operator" },
  });
  expect(created.status()).toBe(201);

  await login(page, "e2e-pat", FIRST);
  await expect(page.getByTestId("welcome")).toBeVisible();
  await page.getByRole("link", { name: "Change password" }).click();
  await expect(page.getByRole("heading", { name: "Change password" })).toBeVisible();
  await expectAccessible(page);
  await page.getByLabel("Current password").fill(FIRST);
  await page.getByLabel("New password", { exact: true }).fill("password1234");
  await page.getByLabel("New password again").fill("password1234");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByRole("alert")).toContainText("too easy to guess");
  errors.length = 0; // the 422 this step asked for

  await page.getByLabel("Current password").fill(FIRST);
  await page.getByLabel("New password", { exact: true }).fill(SECOND);
  await page.getByLabel("New password again").fill(SECOND);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByRole("status")).toContainText("Password changed");
  expect((await request.post("/api/v1/auth/login", { data: { username: "e2e-pat", password: SECOND } })).status()).toBe(200);

  // The admin resets it from Administration.
  await page.getByRole("button", { name: "Log out" }).click();
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  await open(page, "/admin");
  const users = page.locator("section", { has: page.getByRole("heading", { name: "Users" }) });
  const row = users.getByRole("row", { name: /e2e-pat/ });
  await row.getByText("Reset password").click();
  await row.getByLabel("New password for e2e-pat").fill(FIRST);
  await row.getByRole("button", { name: "Set" }).click();
  await expect.poll(async () =>
    (await request.post("/api/v1/auth/login", { data: { username: "e2e-pat", password: FIRST } })).status(),
  ).toBe(200);
});
