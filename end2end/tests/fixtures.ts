import { test as base, expect, Page } from "@playwright/test";

export const ADMIN = "admin";
export const ADMIN_PASSWORD = process.env.VIGIL_E2E_ADMIN_PASSWORD as string;

// Every test fails on a console error or an uncaught page error.
export const test = base.extend<{ errors: string[] }>({
  errors: async ({ page }, use) => {
    const errors: string[] = [];
    page.on("console", (msg) => {
      // Failed requests the test provokes on purpose (401) are reported by
      // the browser as console errors; they are asserted by the tests.
      if (msg.type() === "error" && !/status of 40[13]/.test(msg.text())) errors.push(msg.text());
    });
    page.on("pageerror", (err) => errors.push(err.message));
    // Name the resource behind a "Failed to load resource" message.
    page.on("response", (res) => {
      if (res.status() >= 400 && ![401, 403].includes(res.status())) errors.push(`${res.status()} ${res.url()}`);
    });
    await use(errors);
    expect(errors, "console errors").toEqual([]);
  },
});

export { expect };

/** Opens a path and waits until the app has hydrated. */
export async function open(page: Page, path: string) {
  await page.goto(path);
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
}

export async function login(page: Page, username: string, password: string) {
  await open(page, "/login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}
