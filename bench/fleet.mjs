// Drives the devices list at fleet size (see fleet.sh): API timings, then
// Debian's Chromium (playwright-core) on the devices page.
import { randomBytes } from "node:crypto";
import { launch } from "./browser.mjs";

const base = process.env.BASE;
const token = process.env.VIGIL_TOKEN;
const n = Number(process.env.DEVICES ?? "10000");
// The platform's CA comes from NODE_EXTRA_CA_CERTS (fleet.sh): verified TLS.
const api = (path, init = {}) =>
  fetch(`${base}${path}`, { ...init, headers: { "x-access-token": token, "content-type": "application/json", ...(init.headers ?? {}) } });

let t0 = Date.now();
let next = 0;
async function worker() {
  while (next < n) {
    const i = next++;
    const rid = `fleet-${String(i).padStart(5, "0")}`;
    const res = await api("/api/v1/devices", {
      method: "POST",
      body: JSON.stringify({ registration_id: rid, name: `Boiler ${i}`, cert_sha256: randomBytes(32).toString("hex") }),
    });
    if (res.status !== 201) throw new Error(`${rid}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  }
}
await Promise.all(Array.from({ length: 8 }, worker));
console.log(`== enrolled ${n} devices in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

async function timed(label, path, runs = 20) {
  const ms = [];
  let total, link, rows;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const res = await api(path);
    const body = await res.json();
    ms.push(performance.now() - t);
    total = res.headers.get("x-total-count");
    link = res.headers.get("link");
    rows = body.length;
  }
  ms.sort((a, b) => a - b);
  console.log(`${label.padEnd(40)} ${rows} rows of ${total}: median ${ms[runs >> 1].toFixed(1)} ms, max ${ms[runs - 1].toFixed(1)} ms`);
  return link;
}
console.log("== API pages of 50 (20 requests each, keep-alive)");
let link = await timed("first page (registration id)", "/api/v1/devices?limit=50&sort=registration_id");
// Follow the cursor 100 pages deep, then time that page.
let deep = link.slice(link.indexOf("<") + 1, link.indexOf(">"));
for (let i = 0; i < 99; i++) {
  const res = await api(deep);
  await res.arrayBuffer();
  const l = res.headers.get("link");
  deep = l.slice(l.indexOf("<") + 1, l.indexOf(">"));
}
await timed("page 101 (by cursor)", deep);
await timed("sorted by last seen, newest first", "/api/v1/devices?limit=50&sort=last_seen&order=desc");
await timed("search q=boiler 99", "/api/v1/devices?limit=50&q=boiler%2099");
await timed("status=offline", "/api/v1/devices?limit=50&status=offline");
await timed("the whole list (contract default 1000)", "/api/v1/devices", 5);

const browser = await launch();
const context = await browser.newContext({ ignoreHTTPSErrors: true });
const me = await (await context.request.get(`${base}/api/v1/auth/me`, { headers: { "x-access-token": token } })).json();
await context.addInitScript(([t, u]) => {
  localStorage.setItem("vigil.session", JSON.stringify({ token: t, token_id: "", expires_at: "", user: u }));
}, [token, me]);
const first = [];
for (let i = 0; i < 6; i++) {
  const page = await context.newPage();
  const t = Date.now();
  await page.goto(`${base}/`);
  await page.waitForSelector('[data-testid="device-row-fleet-00049"]');
  if (i > 0) first.push(Date.now() - t); // the first load warms the caches
  await page.close();
}
first.sort((a, b) => a - b);
console.log(`== devices page, navigation to its first 50 rows of ${n}, 5 warm loads: median ${first[2]} ms, max ${first[4]} ms`);
const page = await context.newPage();
await page.goto(`${base}/`);
await page.waitForSelector('[data-testid="device-row-fleet-00000"]');
let t = Date.now();
await page.getByRole("button", { name: /^Registration id/ }).click();
await page.waitForSelector(`[data-testid="device-row-fleet-${String(n - 1).padStart(5, "0")}"]`);
console.log(`== sort by registration id, descending: click to rows ${Date.now() - t} ms`);
t = Date.now();
await page.getByRole("searchbox").fill("fleet-04242");
await page.waitForFunction(() => document.querySelectorAll('[data-testid^="device-row-"]').length === 1);
console.log(`== search for one device: typing to its row alone ${Date.now() - t} ms (the search waits for a pause in typing)`);
await browser.close();
