#!/usr/bin/env node
// The web page in a real browser: Debian's Chromium, driven by playwright-core. Starts
// vidx serve over a folder of clips made here, types a query, sees results, opens one,
// checks the player starts at the matching moment, likes it and sees the feed change.
// Screenshots go to SCREENSHOT_DIR.
//
// usage: test_web.js VIDX SHARED_DATA SCREENSHOT_DIR
'use strict';
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [vidx, shared, shots] = process.argv.slice(2);
const playwright = process.env.VIDX_PLAYWRIGHT ||
  path.join(process.env.VIDX_CACHE || path.join(os.homedir(), '.cache', 'vidx'), 'node', 'node_modules', 'playwright-core');
const { chromium } = require(playwright);
const browserPath = process.env.VIDX_CHROMIUM || '/usr/bin/chromium';

const failures = [];
function check(cond, what) {
  if (!cond) { failures.push(what); console.error('FAIL:', what); }
}

function ffmpeg(args) {
  execFileSync('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...args], { stdio: 'inherit' });
}

async function waitFor(fn, what, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vidx-web-'));
  fs.mkdirSync(shots, { recursive: true });
  const env = { ...process.env, VIDX_MODEL: path.join(shared, 'clip-golden', 'tiny'), VIDX_LOG: 'warn' };
  const clips = path.join(work, 'clips');
  fs.mkdirSync(clips);
  const sources = ['testsrc=size=320x240:rate=10', 'smptebars=size=320x240:rate=10',
                   'mandelbrot=size=320x240:rate=10', 'rgbtestsrc=size=320x240:rate=10'];
  sources.forEach((src, i) => ffmpeg(['-f', 'lavfi', '-i', src, '-t', '20', '-c:v', 'libvpx-vp9', '-deadline', 'realtime',
    '-cpu-used', '8', '-b:v', '200k', path.join(clips, `clip${i}.webm`)]));
  const db = path.join(work, 'db');
  execFileSync(vidx, ['index', '--db', db, '-q', clips], { env, stdio: 'inherit' });

  const ready = path.join(work, 'ready');
  const log = fs.openSync(path.join(work, 'server.log'), 'w');
  const server = spawn(vidx, ['serve', '--db', db, '--listen', '127.0.0.1:0', '--ready-file', ready],
    { env, stdio: ['ignore', log, log] });
  let browser;
  try {
    await waitFor(() => fs.existsSync(ready), 'the server to listen');
    const base = 'http://' + fs.readFileSync(ready, 'utf8').trim();
    browser = await chromium.launch({ executablePath: browserPath, headless: true,
      args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required', '--mute-audio'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const external = [];
    page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
    const consoleErrors = [];
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    await page.goto(base + '/');
    check(await page.title() === 'vidx', 'page title');

    // A new user's feed first: popular and new videos.
    await page.fill('#user', 'tester');
    await page.click('#load-feed');
    await page.waitForSelector('#feed .card');
    const coldFeed = await page.$$eval('#feed .card', (cs) => cs.map((c) => c.dataset.id));
    check(await page.$eval('#feed', (g) => g.dataset.newUser) === 'true', 'a new user gets the cold-start feed');
    check(coldFeed.length === 4, `cold feed lists every clip: ${coldFeed.length}`);

    // Search.
    await page.fill('#q', 'colour bars on a test card');
    await page.press('#q', 'Enter');
    await page.waitForSelector('#results .card');
    const results = await page.$$eval('#results .card', (cs) => cs.map((c) => ({ id: c.dataset.id, start: Number(c.dataset.start),
      text: c.innerText })));
    check(results.length === 4, `four results: ${results.length}`);
    check(results.every((r) => /score -?\d\.\d{3} · \d+:\d\d–\d+:\d\d/.test(r.text)), 'cards show score and moment');
    await page.screenshot({ path: path.join(shots, '1-results.png') });

    // Open a result whose moment is not at the start, so the seek is visible.
    const pick = results.find((r) => r.start > 0) || results[0];
    await page.click(`#results .card[data-id="${pick.id}"]`);
    await page.waitForSelector('#watch:not([hidden])');
    const at = await waitFor(() => page.$eval('#player', (v) => (v.readyState >= 1 && !v.seeking ?
      { t: v.currentTime, start: Number(v.dataset.start), duration: v.duration } : null)), 'the video to load');
    check(Math.abs(at.t - pick.start) < 0.6 && at.start === pick.start,
      `the player starts at the moment: currentTime ${at.t}, moment ${pick.start}`);
    check(at.duration > 19 && at.duration < 21, `media served whole (duration ${at.duration})`);
    await page.waitForSelector('#similar .card');
    const similar = await page.$$eval('#similar .card', (cs) => cs.map((c) => c.dataset.id));
    check(similar.length === 3 && !similar.includes(pick.id), `more like this: ${similar}`);
    await page.screenshot({ path: path.join(shots, '2-watch.png') });

    // Like it: the feed changes and leaves the liked video out.
    await page.click('#like');
    await waitFor(() => page.$eval('#feed', (g) => g.dataset.newUser === 'false'), 'the feed to update');
    const warm = await page.$$eval('#feed .card', (cs) => cs.map((c) => ({ id: c.dataset.id, reason: c.innerText })));
    check(!warm.some((c) => c.id === pick.id), 'the liked video leaves the feed');
    check(JSON.stringify(warm.map((c) => c.id)) !== JSON.stringify(coldFeed), 'the feed changed after the like');
    check(warm.every((c) => c.reason.split('\n').length >= 2), 'feed items carry reasons');
    check((await page.textContent('#status')).includes('Liked'), 'the like is acknowledged');
    await page.screenshot({ path: path.join(shots, '3-feed-after-like.png') });

    // Errors read as sentences: a query over the limit.
    await page.fill('#q', 'x'.repeat(1000) + 'y');
    await page.evaluate(() => { document.querySelector('#q').removeAttribute('maxlength'); });
    await page.fill('#q', 'x'.repeat(1001));
    await page.press('#q', 'Enter');
    await page.waitForSelector('#status:not([hidden])');
    check(/Search failed: q: longer than 1000 bytes/.test(await page.textContent('#status')), 'error message shown');
    // And a query without matches on a later page.
    check(external.length === 0, `nothing loaded from elsewhere: ${external}`);
    check(consoleErrors.length === 0, `no script errors: ${consoleErrors}`);

    // A file this browser cannot play (MPEG-1 video in an MPEG program stream): the page
    // says why and offers the file, instead of a black box.
    const old = path.join(work, 'old.mpg');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-t', '4', '-c:v', 'mpeg1video', old]);
    execFileSync(vidx, ['index', '--db', db, '-q', old], { env, stdio: 'inherit' });
    const oldId = JSON.parse(execFileSync(vidx, ['video', '--db', db, '--json', old], { env })).video_id;
    await page.evaluate((id) => openWatch({ video_id: id, title: 'old.mpg' }, 0), oldId);
    const problem = await waitFor(() => page.$eval('#watch-problem', (p) => (!p.hidden && p.textContent) || null),
      'the playback problem');
    check(/does not play in this browser/.test(problem) && (await page.$('#watch-problem a[download]')) !== null,
      `a video the browser cannot play says so: ${problem}`);
    check(/\/thumbs\//.test(await page.$eval('#player', (v) => v.poster)), 'the player shows the thumbnail');
    await page.screenshot({ path: path.join(shots, '4-cannot-play.png') });

    // The service gone: the page says so.
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await page.fill('#q', 'anything');
    await page.press('#q', 'Enter');
    await waitFor(async () => /cannot be reached/.test(await page.textContent('#status')), 'the unreachable message');
    await page.screenshot({ path: path.join(shots, '5-service-down.png') });
  } finally {
    if (browser) await browser.close();
    if (server.exitCode === null) { server.kill('SIGKILL'); }
    if (!process.env.KEEP) fs.rmSync(work, { recursive: true, force: true });
  }
  if (failures.length) {
    console.error(`${failures.length} failures`);
    process.exit(1);
  }
  console.log(`web page checks passed; screenshots in ${shots}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
