// Drives Debian's Chromium (playwright-core) against a running Vigil over
// an emulated slow link (Chrome DevTools' "Fast 3G": 562.5 ms latency,
// 1.44 Mbit/s down, 675 kbit/s up, each at 90 %): the login page loaded
// with an empty cache, then again with the cache the first load left.
// Prints first contentful paint, hydration (the page answers clicks) and
// the bytes that crossed the link, per load. Then signs in and opens the
// overview and the administration page, each a wasm chunk of its own in a
// split build: the time from the click to the page's heading, and the bytes.
import { launch } from "./browser.mjs";

const base = process.env.BASE;
const browser = await launch([`--ignore-certificate-errors-spki-list=${process.env.VIGIL_SPKI}`]);
const context = await browser.newContext();
const page = await context.newPage();
const cdp = await context.newCDPSession(page);
await cdp.send("Network.enable");
await cdp.send("Network.emulateNetworkConditions", {
  offline: false,
  latency: 562.5,
  downloadThroughput: (1.44 * 1000 * 1000) / 8 * 0.9,
  uploadThroughput: (675 * 1000) / 8 * 0.9,
});
let bytes = 0;
cdp.on("Network.loadingFinished", (e) => { bytes += e.encodedDataLength; });

for (const load of ["empty cache", "warm cache"]) {
  bytes = 0;
  const started = Date.now();
  await page.goto(`${base}/login`, { waitUntil: "commit" });
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 60_000 });
  const hydrated = Date.now() - started;
  const fcp = await page.evaluate(() =>
    performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? NaN);
  // Let the last requests finish before counting.
  await page.waitForLoadState("networkidle");
  console.log(`Fast 3G, ${load}: first contentful paint ${Math.round(fcp)} ms, ` +
    `hydrated ${hydrated} ms, ${Math.round(bytes / 1024)} KiB over the link`);
}

// Signed in, over the same link: each page's chunk comes when first shown.
bytes = 0;
let started = Date.now();
await page.getByLabel("Username").fill("admin");
await page.getByLabel("Password").fill(process.env.VIGIL_BENCH_PASSWORD);
await page.getByRole("button", { name: "Sign in" }).click();
await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor({ timeout: 60_000 });
console.log(`Fast 3G, sign-in to the overview: ${Date.now() - started} ms, ` +
  `${Math.round(bytes / 1024)} KiB over the link`);
await page.waitForLoadState("networkidle");
bytes = 0;
started = Date.now();
await page.getByRole("link", { name: "Admin", exact: true }).first().click();
await page.getByRole("heading", { level: 1, name: "Administration" }).waitFor({ timeout: 60_000 });
console.log(`Fast 3G, overview to administration: ${Date.now() - started} ms, ` +
  `${Math.round(bytes / 1024)} KiB over the link`);
await browser.close();
