import { test, expect, open, login, ADMIN, ADMIN_PASSWORD } from "./fixtures";

test("an admin signs in with the right password and sees who they are", async ({ page, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("welcome")).toContainText("Signed in as admin (admin)");
  await expect(page.getByTestId("current-user")).toHaveText(ADMIN);
  await expect(page.getByTestId("current-role")).toHaveText("admin");
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem("vigil.session") ?? "null"));
  expect(stored.token.split(".")).toHaveLength(3);
});

test("a wrong password is refused with a message and no session", async ({ page, errors }) => {
  await login(page, ADMIN, "not-the-password");
  await expect(page.getByRole("alert")).toHaveText("Wrong username or password.");
  await expect(page).toHaveURL(/\/login$/);
  expect(await page.evaluate(() => localStorage.getItem("vigil.session"))).toBeNull();
});

test("after logout the old token is refused by the API", async ({ page, request, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const token: string = await page.evaluate(() => JSON.parse(localStorage.getItem("vigil.session")!).token);

  const before = await request.get("/api/v1/auth/me", { headers: { "x-access-token": token } });
  expect(before.status()).toBe(200);

  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByTestId("login-notice")).toHaveText("You have signed out.");
  expect(await page.evaluate(() => localStorage.getItem("vigil.session"))).toBeNull();

  const after = await request.get("/api/v1/auth/me", { headers: { "x-access-token": token } });
  expect(after.status()).toBe(401);
  expect(await after.json()).toMatchObject({ error: "token_revoked" });
});

test("a revoked session sends the user back to the login page with a message", async ({ page, request, errors }) => {
  await login(page, ADMIN, ADMIN_PASSWORD);
  await expect(page.getByTestId("welcome")).toBeVisible();
  const session = await page.evaluate(() => JSON.parse(localStorage.getItem("vigil.session")!));

  // A second admin session revokes the first one's token.
  const other = await request.post("/api/v1/auth/login", { data: { username: ADMIN, password: ADMIN_PASSWORD } });
  const otherToken = (await other.json()).token;
  const revoke = await request.post(`/api/v1/tokens/${session.token_id}/revoke`, {
    headers: { "x-access-token": otherToken },
  });
  expect(revoke.status()).toBe(204);

  // The open page learns it at once: the revocation ends its live stream
  // with token_revoked. (Reloading instead raced with that: the stream's
  // end could clear the session first, and the reload then found none.)
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByTestId("login-notice")).toHaveText("Your session was revoked. Please sign in again.");
  expect(await page.evaluate(() => localStorage.getItem("vigil.session"))).toBeNull();
  // A reload finds no session either.
  await open(page, "/");
  await expect(page).toHaveURL(/\/login$/);
});

test("the home page without a session leads to the login page", async ({ page, errors }) => {
  await open(page, "/");
  await expect(page).toHaveURL(/\/login$/);
  await expect(page.getByLabel("Username")).toBeVisible();
});
