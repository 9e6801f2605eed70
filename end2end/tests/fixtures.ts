import { test as base, expect, Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { execFileSync } from "node:child_process";
import path from "node:path";

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
    // Where the journey ended is checked as well as where it went (`open`).
    if (!page.isClosed() && page.url().startsWith("https:")) await expectAccessible(page);
  },
});

export { expect };

/** Opens a path, waits until the app has hydrated, and checks the page
 * with axe-core. */
export async function open(page: Page, path: string) {
  await page.goto(path);
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
  await expectAccessible(page);
}

/** No WCAG 2.1 A or AA violation that axe-core finds on the page as it is. */
export async function expectAccessible(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
  const { violations } = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
    .analyze();
  const found = violations.map(
    (v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
  );
  expect(found, `axe-core on ${page.url()}`).toEqual([]);
}

/** The signed-in session's token, as the dashboard keeps it. */
export async function sessionToken(page: Page): Promise<string> {
  return page.evaluate(() => JSON.parse(localStorage.getItem("vigil.session")!).token);
}

export async function login(page: Page, username: string, password: string) {
  await open(page, "/login");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

const root = path.resolve(__dirname, "..", "..");
const port = process.env.VIGIL_E2E_PORT ?? "18443";
const southPort = process.env.VIGIL_E2E_SOUTH_PORT ?? "18444";

/** Runs the real device CLI against the test server. */
export function device(args: string[], token = ""): string {
  return execFileSync(path.join(root, "target", "debug", "vigil-device"), args, {
    cwd: root,
    encoding: "utf8",
    env: {
      ...process.env,
      VIGIL_TOKEN: token,
      VIGIL_NORTH_URL: `https://127.0.0.1:${port}`,
      VIGIL_SOUTH_URL: `https://127.0.0.1:${southPort}`,
      VIGIL_CA: path.join(root, "target", "e2e-data", "pki", "platform-ca.pem"),
    },
  });
}
