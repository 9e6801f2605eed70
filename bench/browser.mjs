// Debian's Chromium, started as the benchmarks drive it (playwright-core).
import { chromium } from "playwright-core";

export function launch(extra = []) {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-quic", "--no-first-run", ...extra],
  });
}
