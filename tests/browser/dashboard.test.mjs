// The dashboard page in Debian's headless Chromium, driven by playwright-core
// (never a browser download). Run by integration_realtime, which starts the
// topology and passes, in the environment:
//   CF_GATEWAY_URL, CF_GATEWAY_PID, CF_GATEWAY_CMD (JSON argv to start another),
//   CF_TOKEN_A, CF_TOKEN_B (creator-100, creator-101), CF_PG_URL,
//   CF_FEED_CMD, CF_FEED2_CMD (JSON argv of cf-loadgen runs), CF_ARTIFACT_DIR.
// Checks: the page's orders and revenue equal PostgreSQL's; after the gateway
// is killed and another starts, the page reconnects by itself, resumes with no
// gap and still matches; a token for another creator shows that creator only.
// Exit code 0 when everything holds.
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, openSync } from "node:fs";
import { join } from "node:path";

const env = process.env;
const artifacts = env.CF_ARTIFACT_DIR || ".";
mkdirSync(artifacts, { recursive: true });
let failures = 0;
const check = (ok, what) => { console.log(`${ok ? "ok  " : "FAIL"} ${what}`); if (!ok) failures++; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Date.now();

function sql(query) {
  return execFileSync("psql", [env.CF_PG_URL, "-Atc", query], { encoding: "utf8" }).trim();
}
// PostgreSQL's figures for a creator and day: orders, and gross revenue per currency.
function dbFigures(creator, day) {
  const orders = Number(sql(`SELECT coalesce(sum(orders), 0) FROM creator_daily_metrics WHERE creator_id = '${creator}' AND day = '${day}'`));
  const revenue = {};
  for (const line of sql(`SELECT currency || '=' || gross_minor FROM creator_daily_revenue WHERE creator_id = '${creator}' AND day = '${day}' AND gross_minor > 0`).split("\n")) {
    if (line) { const [c, v] = line.split("="); revenue[c] = Number(v); }
  }
  return JSON.stringify({ orders, revenue });
}
function newestDay(creator) {
  return sql(`SELECT max(day)::text FROM creator_daily_metrics WHERE creator_id = '${creator}' AND orders > 0`);
}
async function pageFigures(page) {
  return page.evaluate(() => {
    const o = document.getElementById("orders-today"), r = document.getElementById("revenue-today");
    return { day: o.dataset.day || "", figures: JSON.stringify({ orders: Number(o.dataset.value || 0), revenue: JSON.parse(r.dataset.value || "{}") }) };
  });
}
// Waits until the page shows what PostgreSQL holds for the newest day, and
// reports how long after PostgreSQL reached its final figures the page did.
async function expectMatches(page, creator, label) {
  const deadline = now() + 90000;
  let db = "", dbSince = 0, pageSince = 0, shown = null;
  while (now() < deadline) {
    const day = newestDay(creator);
    const current = day ? dbFigures(creator, day) : "";
    if (current !== db) { db = current; dbSince = now(); pageSince = 0; }
    shown = await pageFigures(page);
    const same = day && shown.day === day && shown.figures === db;
    if (same && !pageSince) pageSince = now();
    if (!same) pageSince = 0;
    if (same && now() - dbSince >= 1500) {
      // Stable for 1.5 s in the database and equal on the page.
      console.log(`     ${label}: page = PostgreSQL (${db}) for ${day}; the page showed it ${pageSince - dbSince} ms after PostgreSQL had it`);
      lagsMs.push(pageSince - dbSince);
      return true;
    }
    await sleep(50);
  }
  console.log(`     ${label}: PostgreSQL ${db}, page ${JSON.stringify(shown)}`);
  return false;
}
const lagsMs = [];
function run(cmdJson, log) {
  const seconds = String(Math.floor(Date.now() / 1000));
  const argv = JSON.parse(cmdJson).map((a) => (a === "@NOW@" ? seconds : a));
  const out = openSync(join(artifacts, log), "w");
  return spawn(argv[0], argv.slice(1), { stdio: ["ignore", out, out] });
}
const exited = (child) => new Promise((r) => child.exitCode !== null ? r(child.exitCode) : child.on("exit", r));

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
let gateway2 = null;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${env.CF_GATEWAY_URL}/?token=${env.CF_TOKEN_A}`);
  await page.waitForFunction(() => document.getElementById("connection").textContent === "live", null, { timeout: 30000 });
  check(true, "the page connects and goes live");
  await page.evaluate(() => { window.__notReloaded = true; });

  const feed = run(env.CF_FEED_CMD, "feed-browser.log");
  check(await exited(feed) === 0, "the webhooks were fed");
  check(await expectMatches(page, "creator-100", "after the feed"), "orders and revenue on the page equal PostgreSQL's");

  // The gateway dies; another starts on the same port. The page must
  // reconnect by itself and resume from its cursor: no reload, no gap.
  process.kill(Number(env.CF_GATEWAY_PID), "SIGKILL");
  await page.waitForFunction(() => document.getElementById("connection").textContent === "reconnecting", null, { timeout: 10000 });
  check(true, "the page shows it is reconnecting");
  gateway2 = run(env.CF_GATEWAY_CMD, "gateway-browser.log");
  await page.waitForFunction(() => document.getElementById("connection").textContent === "live", null, { timeout: 30000 });
  check(true, "the page reconnected by itself");
  check(await exited(run(env.CF_FEED2_CMD, "feed2-browser.log")) === 0, "more webhooks were fed");
  check(await expectMatches(page, "creator-100", "after the restart"), "the page still equals PostgreSQL after the gateway restart");
  const stats = await page.evaluate(() => ({ ...window.cfStats, notReloaded: window.__notReloaded === true }));
  console.log(`     page: ${JSON.stringify(stats)}`);
  check(stats.notReloaded, "the page was never reloaded");
  check(stats.connects >= 2 && stats.snapshots === 1, "it resumed from its cursor (one snapshot in all)");
  check(stats.gaps === 0 && stats.foreign === 0, "no version gap, nothing of another creator");
  // The order_metrics channel sends at most every 5 s (event time), so the
  // last change of a burst reaches the page up to 5 s after it happened.
  check(lagsMs.every((l) => l <= 2000 + 5000), `the page followed PostgreSQL within 2 s plus the channel's 5 s window (${lagsMs.join(", ")} ms)`);
  await page.screenshot({ path: join(artifacts, "dashboard.png"), fullPage: true });
  console.log(`     screenshot: ${join(artifacts, "dashboard.png")}`);

  // Another creator's token: that creator's figures, and nothing of creator-100.
  const other = await browser.newPage();
  await other.goto(`${env.CF_GATEWAY_URL}/?token=${env.CF_TOKEN_B}`);
  await other.waitForFunction(() => document.getElementById("connection").textContent === "live", null, { timeout: 30000 });
  check(await other.evaluate(() => document.getElementById("creator").textContent) === "creator-101", "the other token's page names creator-101");
  check(await expectMatches(other, "creator-101", "creator-101"), "it shows creator-101's figures");
  check(dbFigures("creator-100", newestDay("creator-100")) !== dbFigures("creator-101", newestDay("creator-101")), "the two creators' figures differ (the check can tell them apart)");
  check((await other.evaluate(() => window.cfStats.foreign)) === 0, "no message of another creator reached it");
  const forged = await browser.newPage();
  await forged.goto(`${env.CF_GATEWAY_URL}/?token=${env.CF_TOKEN_A.slice(0, -3)}abc`);
  await sleep(1500);
  check(await forged.evaluate(() => window.cfStats.snapshots + window.cfStats.deltas) === 0, "a forged token gets nothing");
} catch (e) {
  console.log(`FAIL ${e.stack || e}`);
  failures++;
} finally {
  await browser.close();
  if (gateway2) { gateway2.kill("SIGTERM"); await exited(gateway2); }
}
console.log(failures === 0 ? "browser test passed" : `browser test: ${failures} failures`);
process.exit(failures === 0 ? 0 : 1);
