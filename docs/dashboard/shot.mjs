// Screenshots page.html (filled in by render.py) in Debian's headless Chromium.
// Usage: node shot.mjs PAGE.html OUT.png
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [page, out] = process.argv.slice(2);
setTimeout(() => { console.error("shot: timed out"); process.exit(1); }, 90_000).unref();
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
  timeout: 30_000,
});
try {
  const tab = await browser.newPage({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
  const errors = [];
  tab.on("pageerror", (e) => errors.push(e.message));
  await tab.goto(pathToFileURL(page).href, { timeout: 30_000 });
  await tab.waitForFunction(() => window.drawn === true, null, { timeout: 30_000 }).catch(() => {});
  if (errors.length) throw new Error(`the page failed: ${errors.join("; ")}`);
  await tab.screenshot({ path: out, fullPage: true });
} finally {
  await browser.close();
}
