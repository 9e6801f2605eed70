// Drives Debian's Chromium (playwright-core) against a running Vigil:
// hydration time of the devices page, then live-stream latency.
import { launch } from "./browser.mjs";

const base = process.env.BASE;
const token = process.env.VIGIL_TOKEN;
const watch = Number(process.env.SECONDS_TO_WATCH ?? "20");

const browser = await launch();
const context = await browser.newContext({ ignoreHTTPSErrors: true });
const me = await (await context.request.get(`${base}/api/v1/auth/me`, { headers: { "x-access-token": token } })).json();
await context.addInitScript(([t, u]) => {
  localStorage.setItem("vigil.session", JSON.stringify({ token: t, token_id: "", expires_at: "", user: u }));
}, [token, me]);

const hydration = [];
for (let i = 0; i < 6; i++) {
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const ms = Number(await page.getAttribute("body", "data-hydrated-ms"));
  if (i > 0) hydration.push(ms); // the first load warms the caches
  await page.close();
}
hydration.sort((a, b) => a - b);
console.log(`== navigation to hydrated on / (devices page), 5 warm loads: median ${hydration[2]} ms, max ${hydration[4]} ms`);

const page = await context.newPage();
await page.goto(`${base}/`);
await page.waitForSelector('[data-live="ready"]');
const lat = await page.evaluate(async ([t, secs]) => {
  const out = [];
  const ctl = new AbortController();
  setTimeout(() => ctl.abort(), secs * 1000);
  try {
    const res = await fetch("/api/v1/live", { headers: { "x-access-token": t }, signal: ctl.signal });
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const now = Date.now();
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = ev.split("\n").find((l) => l.startsWith("data: ["));
        if (data) for (const r of JSON.parse(data.slice(6))) out.push(now - Date.parse(r.ts));
      }
    }
  } catch (e) { /* aborted at the end */ }
  return out;
}, [token, watch]);
lat.sort((a, b) => a - b);
const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))];
console.log(`== ingest → browser (reading's arrival time to its delivery in the page), ${lat.length} readings: p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`);
await browser.close();
