#!/usr/bin/env node
// The web page in a real browser: Debian's Chromium, driven by playwright-core. Starts
// vidx serve over a folder of clips made here, types a query, sees results, opens one,
// checks the player starts at the matching moment and its storyboard jumps to key
// frames, searches by a picture, likes a video and sees the feed change; a re-upload is
// grouped under its original; the page in Chinese (the browser's language) and back.
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

// Each file (indexed) plays in the page from a moment past its start, once its rendition
// is ready where it needs one: pictures decoded, the player at the moment, time moving.
async function playsAtMoment(page, base, db, files, shots, tag) {
  const played = { direct: 0, rendition: 0 };
  for (const file of files) {
    const id = JSON.parse(execFileSync(vidx, ['video', '--db', db, '--json', file]).toString()).video_id;
    let info;
    try {
      info = await waitFor(async () => {
        const r = await (await fetch(`${base}/v1/videos/${id}`)).json();
        return r.playback && r.playback !== 'pending' ? r : null;
      }, `${file} to have a rendition`, 90000);
    } catch (e) {
      check(false, `${path.basename(file)}: ${e.message}`);
      continue;
    }
    check(info.playback === 'direct' || info.playback === 'rendition', `${path.basename(file)} plays ${info.playback}: ${info.playback_reason || ''}`);
    if (info.playback !== 'direct' && info.playback !== 'rendition') continue;
    const seg = info.segments.length > 1 ? info.segments[1] : info.segments[0];
    const start = info.duration > 1.5 ? seg.start : 0;
    await page.evaluate(([vid, t, title]) => openWatch({ video_id: vid, title }, t), [id, start, path.basename(file)]);
    let at;
    try {
      // Loaded, and at the moment (the seek may land a moment after the data).
      // Where playing began (the first played range), not only where it is now: on a busy
      // machine a short clip can play on past the moment between two looks.
      at = await waitFor(() => page.$eval('#player', (v, t0) => {
        if (!(v.readyState >= 2 && !v.seeking && v.getAttribute('src'))) return null;
        const began = v.played.length ? v.played.start(0) : v.currentTime;
        return Math.abs(v.currentTime - t0) < 0.6 || Math.abs(began - t0) < 0.6
          ? { t: Math.abs(v.currentTime - t0) < 0.6 ? v.currentTime : began, w: v.videoWidth, src: v.currentSrc } : null;
      }, start), `${path.basename(file)} to load at its moment`, 20000);
    } catch (e) {
      const problem = await page.$eval('#watch-problem', (p) => p.textContent);
      const state = await page.$eval('#player', (v) => `readyState ${v.readyState}, currentTime ${v.currentTime}`);
      check(false, `${path.basename(file)} (${info.playback}) does not load at its moment ${start}: ${state} ${problem}`);
      continue;
    }
    check(at.w > 0, `${path.basename(file)}: pictures decoded`);
    check(Math.abs(at.t - start) < 0.6, `${path.basename(file)}: starts at the moment ${start}, currentTime ${at.t}`);
    check(await page.$eval('#watch-problem', (p) => p.hidden), `${path.basename(file)}: no playback problem`);
    if (info.duration > 1.5) {
      const moved = await waitFor(() => page.$eval('#player', (v, t0) => v.currentTime > t0 + 0.2 || v.ended, at.t),
        `${path.basename(file)} to play on`, 10000).catch(() => false);
      check(moved, `${path.basename(file)}: playing moves on from the moment`);
    }
    if (file === files[0]) await page.screenshot({ path: path.join(shots, `4-plays-${tag}.png`) });
    played[info.playback]++;
  }
  console.log(`${tag}: ${files.length} files; played as they are ${played.direct}, from a rendition ${played.rendition}`);
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vidx-web-'));
  fs.mkdirSync(shots, { recursive: true });
  const env = { ...process.env, VIDX_MODEL: path.join(shared, 'clip-golden', 'tiny'), VIDX_LOG: process.env.VIDX_LOG || 'warn' };
  const clips = path.join(work, 'clips');
  fs.mkdirSync(clips);
  const sources = ['testsrc=size=320x240:rate=10', 'smptebars=size=320x240:rate=10',
                   'mandelbrot=size=320x240:rate=10', 'rgbtestsrc=size=320x240:rate=10'];
  sources.forEach((src, i) => ffmpeg(['-f', 'lavfi', '-i', src, '-t', '20', '-c:v', 'libvpx-vp9', '-deadline', 'realtime',
    '-cpu-used', '8', '-b:v', '200k', path.join(clips, `clip${i}.webm`)]));
  // A re-upload of the first clip (smaller, another codec; indexed after it, by name).
  ffmpeg(['-i', path.join(clips, 'clip0.webm'), '-vf', 'scale=240:180', '-c:v', 'libx264', '-pix_fmt', 'yuv420p',
    path.join(clips, 'reupload-of-clip0.mp4')]);
  // Words said in one clip (a subtitle beside it), with characters HTML escapes: shown as text.
  fs.writeFileSync(path.join(clips, 'clip2.srt'),
    '1\n00:00:06,000 --> 00:00:08,000\nIf 3 < 4 & <b>x</b> the fractal zooms & spirals\n');
  const db = path.join(work, 'db');
  execFileSync(vidx, ['index', '--db', db, '-q', clips], { env, stdio: 'inherit' });

  const ready = path.join(work, 'ready');
  const log = fs.openSync(path.join(work, 'server.log'), 'w');
  let server = spawn(vidx, ['serve', '--db', db, '--listen', '127.0.0.1:0', '--ready-file', ready],
    { env, stdio: ['ignore', log, log] });
  let browser;
  try {
    await waitFor(() => fs.existsSync(ready), 'the server to listen');
    let base = 'http://' + fs.readFileSync(ready, 'utf8').trim();
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
    // The re-upload is one card with its original ("2 copies"); the player lists it, and
    // it opens from there. (No user meanwhile: nothing watched here reaches the feed.)
    const videoId = (file) => JSON.parse(execFileSync(vidx, ['video', '--db', db, '--json', path.join(clips, file)], { env })).video_id;
    const [clip0, reupload] = [videoId('clip0.webm'), videoId('reupload-of-clip0.mp4')];
    const grouped = await page.$$eval('#results .card .copies', (cs) => cs.map((c) => ({ id: c.closest('.card').dataset.id,
      text: c.textContent })));
    check(grouped.length === 1 && grouped[0].id === clip0 && grouped[0].text === '2 copies' && !results.some((r) => r.id === reupload),
      `the re-upload grouped under its original: ${JSON.stringify(grouped)}`);
    const pageInfo = await page.textContent('#page-info');
    check(pageInfo.startsWith('1–4 of 4 ·'), `the total counts the copies once: ${pageInfo}`);
    await page.fill('#user', '');
    await page.click(`#results .card[data-id="${clip0}"]`);
    await page.waitForSelector(`#watch-copies:not([hidden]) button[data-id="${reupload}"]`);
    await page.click(`#watch-copies button[data-id="${reupload}"]`);
    await waitFor(async () => (await page.textContent('#watch-title')) === 'reupload-of-clip0.mp4', 'the copy to open');
    await page.click('#close');
    await page.fill('#user', 'tester');

    // Words: the clip whose subtitle says them comes first, at the cue, with what matched
    // and the words highlighted; markup in the text stays text.
    await page.fill('#q', 'fractal spirals');
    await page.press('#q', 'Enter');
    // Polled from here: the page's CSP forbids the eval that page.waitForFunction polls with.
    await waitFor(() => page.evaluate(() => !!document.querySelector('#results .card .snippet')), 'the words\' results');
    const top = await page.$eval('#results .card', (c) => ({ start: Number(c.dataset.start),
      matched: c.querySelector('.matched') && c.querySelector('.matched').textContent,
      marks: [...c.querySelectorAll('.snippet mark')].map((m) => m.textContent),
      snippet: c.querySelector('.snippet').textContent, scripts: c.querySelectorAll('script').length }));
    check(top.start === 6 && top.matched === 'subtitle', `the subtitle's clip first, at its cue: ${JSON.stringify(top)}`);
    check(top.marks.join(',') === 'fractal,spirals' && top.snippet.includes('If 3 < 4 & x the fractal') &&
      top.scripts === 0, `snippet highlighted, its characters as text: ${JSON.stringify(top)}`);
    await page.screenshot({ path: path.join(shots, '1-words.png') });
    // Back to the pictures' query (no words match it: no snippets) for what follows.
    await page.fill('#q', 'colour bars on a test card');
    await page.press('#q', 'Enter');
    await waitFor(() => page.evaluate(() => !!document.querySelector('#results .card') &&
      !document.querySelector('#results .card .snippet')), 'the pictures\' results again');

    // Open a result whose moment is not at the start, so the seek is visible.
    const pick = results.find((r) => r.start > 0) || results[0];
    await page.click(`#results .card[data-id="${pick.id}"]`);
    await page.waitForSelector('#watch:not([hidden])');
    // Loaded and at the moment; if it never gets there, what it shows instead is reported.
    const at = await waitFor(() => page.$eval('#player', (v, t0) => (v.readyState >= 1 && !v.seeking &&
      Math.abs(v.currentTime - t0) < 0.6 ? { t: v.currentTime, start: Number(v.dataset.start), duration: v.duration } : null),
      pick.start), 'the video to load at its moment').catch(() => page.$eval('#player', (v) =>
      ({ t: v.currentTime, start: Number(v.dataset.start), duration: v.duration })));
    check(Math.abs(at.t - pick.start) < 0.6 && at.start === pick.start,
      `the player starts at the moment: currentTime ${at.t}, moment ${pick.start}`);
    check(at.duration > 19 && at.duration < 21, `media served whole (duration ${at.duration})`);
    await page.waitForSelector('#similar .card');
    const similar = await page.$$eval('#similar .card', (cs) => cs.map((c) => c.dataset.id));
    check(similar.length === 3 && !similar.includes(pick.id), `more like this: ${similar}`);
    // The storyboard: the key frames under the player; a click jumps to its moment.
    const keys = (await (await fetch(`${base}/v1/videos/${pick.id}`)).json()).keyframes || [];
    check(keys.length >= 1 && keys.every((k) => k.t >= 0 && k.t <= 20), `key frames of the clip: ${JSON.stringify(keys)}`);
    await waitFor(() => page.evaluate((n) => document.querySelectorAll('#storyboard button img').length === n &&
      [...document.querySelectorAll('#storyboard img')].every((i) => i.complete && i.naturalWidth > 0), keys.length),
    'the storyboard');
    const now = await page.$eval('#player', (v) => v.currentTime);
    let far = 0;
    keys.forEach((k, i) => { if (Math.abs(k.t - now) > Math.abs(keys[far].t - now)) far = i; });
    await page.click(`#storyboard button:nth-child(${far + 1})`);
    const jumped = await waitFor(() => page.$eval('#player', (v, t) => (!v.seeking && Math.abs(v.currentTime - t) < 0.6 ?
      v.currentTime : null), keys[far].t), 'the jump to a key frame').catch(() => page.$eval('#player', (v) => v.currentTime));
    check(Math.abs(jumped - keys[far].t) < 0.6, `a key frame's click jumps to ${keys[far].t}: at ${jumped}`);
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

    // A picture as the query: a frame of the fractal clip finds that clip first, at the
    // moment of the frame, marked as the video the picture comes from.
    const frame = path.join(work, 'frame.png');
    ffmpeg(['-ss', '10', '-i', path.join(clips, 'clip2.webm'), '-frames:v', '1', frame]);
    const clip2 = JSON.parse(execFileSync(vidx, ['video', '--db', db, '--json', path.join(clips, 'clip2.webm')], { env })).video_id;
    await page.setInputFiles('#picture', frame);
    await waitFor(() => page.evaluate(() => /picture/.test(document.querySelector('#results-title').textContent) &&
      !!document.querySelector('#results .card')), 'the picture\'s results');
    const byPicture = await page.$eval('#results .card', (c) => ({ id: c.dataset.id, start: Number(c.dataset.start),
      matched: c.querySelector('.matched') && c.querySelector('.matched').textContent }));
    check(byPicture.id === clip2 && byPicture.start <= 10 && byPicture.start + 5 >= 10 && byPicture.matched === 'frame',
      `a frame of the fractal clip finds it first, at its moment: ${JSON.stringify(byPicture)}`);
    // The player opened above (the liked video) closed with the new search.
    check(await page.$eval('#watch', (w) => w.hidden), 'a new search closes the player left open');
    await page.screenshot({ path: path.join(shots, '1-picture.png') });

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

    // The page in Simplified Chinese: a browser whose first language is Chinese (it sends
    // Accept-Language: zh-CN) gets every string of the table in Chinese; the switch turns
    // the page, what it shows included, to English, and the choice stays.
    const incomplete = await page.evaluate(() => Object.entries(STRINGS).filter(([, v]) => !v.en || !v.zh).map(([k]) => k));
    check(incomplete.length === 0, `every string in both languages: ${incomplete}`);
    const zhContext = await browser.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 860 } });
    const zh = await zhContext.newPage();
    zh.on('pageerror', (e) => consoleErrors.push(String(e)));
    await zh.goto(base + '/');
    const shown = () => zh.evaluate(() => ({
      lang: document.documentElement.lang,
      // Every element's string and attribute from the table, in the page's language.
      wrong: [...document.querySelectorAll('*')].flatMap((el) => el.getAttributeNames().filter((a) => a.startsWith('data-i18n'))
        .map((a) => [el, a])).filter(([el, a]) => {
        const want = STRINGS[el.getAttribute(a)][document.documentElement.lang === 'zh-CN' ? 'zh' : 'en'];
        return (a === 'data-i18n' ? el.textContent : el.getAttribute(a.slice('data-i18n-'.length))) !== want;
      }).map(([el, a]) => `${el.id || el.tagName} ${a}`),
    }));
    let z = await shown();
    check(z.lang === 'zh-CN' && z.wrong.length === 0, `the page in Chinese: ${JSON.stringify(z)}`);
    check(await zh.textContent('#search-form button[type=submit]') === '搜索' &&
      (await zh.textContent('#welcome')).includes('推荐'), 'Chinese buttons and welcome');
    await zh.fill('#q', 'colour bars on a test card');
    await zh.press('#q', 'Enter');
    await zh.waitForSelector('#results .card');
    const zhCards = await zh.$$eval('#results .card', (cs) => cs.map((c) => c.innerText));
    const zhTitle = await zh.textContent('#results-title');
    check(zhTitle === '“colour bars on a test card”的搜索结果' && zhCards.every((c) => /得分 -?\d\.\d{3}/.test(c)) &&
      zhCards.some((c) => c.includes('共 2 个副本')) && (await zh.textContent('#page-info')).startsWith('第 1–4 个，共 4 个'),
    `Chinese results: ${zhTitle} ${JSON.stringify(zhCards)}`);
    await zh.screenshot({ path: path.join(shots, '8-chinese.png') });
    await zh.selectOption('#lang', 'en');
    await waitFor(async () => (await zh.textContent('#results-title')) === 'Results for “colour bars on a test card”',
      'the results again in English');
    z = await shown();
    check(z.lang === 'en' && z.wrong.length === 0, `switched to English: ${JSON.stringify(z)}`);
    await zh.reload();
    check(await zh.textContent('#search-form button[type=submit]') === 'Search', 'the choice of English stays');
    await zhContext.close();
    check(consoleErrors.length === 0, `no script errors in Chinese: ${consoleErrors}`);

    // Formats this browser refuses: each is indexed, gets a rendition in the background,
    // and plays from the web page at its moment.
    const refused = path.join(work, 'refused');
    fs.mkdirSync(refused);
    const src = ['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '8'];
    ffmpeg([...src, '-c:v', 'mpeg1video', '-c:a', 'mp2', path.join(refused, 'old.mpg')]);
    ffmpeg([...src, '-c:v', 'mpeg4', '-c:a', 'libmp3lame', path.join(refused, 'part2.avi')]);
    ffmpeg([...src, '-c:v', 'libtheora', '-c:a', 'libvorbis', path.join(refused, 'theora.ogv')]);
    ffmpeg(['-f', 'lavfi', '-i', 'mandelbrot=size=320x240:rate=25', '-t', '8', '-c:v', 'libtheora', path.join(refused, 'theora.ogg')]);
    ffmpeg([...src, '-c:v', 'flv1', '-c:a', 'libmp3lame', '-ar', '44100', path.join(refused, 'old.flv')]);
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=220', '-t', '3', '-c:a', 'libvorbis', path.join(refused, 'song.ogg')]);
    // H.264 High in MP4, a format browsers play, but every key frame damaged (FFmpeg's noise
    // bitstream filter): FFmpeg conceals the damage, Chromium refuses the file (MediaError 3).
    const clean = path.join(work, 'clean.mp4');
    ffmpeg([...src, '-c:v', 'libx264', '-profile:v', 'high', '-pix_fmt', 'yuv420p', '-g', '25', '-c:a', 'aac', clean]);
    ffmpeg(['-i', clean, '-c', 'copy', '-bsf:v', 'noise=amount=if(key\\,50\\,0)', path.join(refused, 'damaged.mp4')]);
    // Damage that indexing does not see (one B-frame, which nothing references and the
    // sampler skips) but Chromium refuses: indexed as playing directly, the page asks for
    // a rendition when the browser fails.
    const cleanB = path.join(work, 'clean-b.mp4');
    ffmpeg([...src, '-c:v', 'libx264', '-profile:v', 'high', '-pix_fmt', 'yuv420p', '-g', '50', '-x264-params',
      'b-adapt=0:b-pyramid=none:bframes=2:scenecut=0', '-c:a', 'aac', cleanB]);
    ffmpeg(['-i', cleanB, '-c', 'copy', '-bsf:v', 'noise=amount=if(eq(n\\,5)\\,10\\,0)', path.join(refused, 'damaged-b.mp4')]);
    const summary = execFileSync(vidx, ['index', '--db', db, refused], { env }).toString();
    check(/skipped 1/.test(summary), `the audio-only ogg is skipped, and said so: ${summary}`);
    const refusedFiles = ['old.mpg', 'part2.avi', 'theora.ogv', 'theora.ogg', 'old.flv', 'damaged.mp4'];
    await playsAtMoment(page, base, db, refusedFiles.map((f) => path.join(refused, f)), shots, 'refused');
    const damaged = JSON.parse(execFileSync(vidx, ['video', '--db', db, '--json', path.join(refused, 'damaged.mp4')], { env }));
    check(damaged.playback === 'rendition', `the damaged stream plays from a rendition: ${damaged.playback} ${damaged.playback_reason}`);
    const sneaky = JSON.parse(execFileSync(vidx, ['video', '--db', db, '--json', path.join(refused, 'damaged-b.mp4')], { env }));
    check(sneaky.playback === 'direct', `damage indexing does not see: decided direct (${sneaky.playback})`);
    // From the start: a seek past the damaged frame would skip it (nothing references it).
    await page.evaluate((id) => openWatch({ video_id: id, title: 'damaged-b.mp4' }, 0), sneaky.video_id);
    try {
      await waitFor(async () => (await (await fetch(`${base}/v1/videos/${sneaky.video_id}`)).json()).playback === 'rendition',
        'the rendition the page asked for', 90000);
      const played = await waitFor(() => page.$eval('#player', (v) => (v.readyState >= 2 && v.currentTime > 0.5 &&
        /as=rendition/.test(v.currentSrc) ? { t: v.currentTime, w: v.videoWidth } : null)), 'the rendition to play', 30000);
      check(played.w > 0, `the asked rendition plays in the page: ${JSON.stringify(played)}`);
      check(await page.$eval('#watch-problem', (p) => p.hidden), 'no playback problem once the rendition plays');
    } catch (e) {
      check(false, `damaged-b.mp4: ${e.message}: ${await page.textContent('#status')} ${await page.textContent('#watch-problem')}`);
    }

    // Every clip of the shared data plays.
    const sharedVideos = path.join(shared, 'videos');
    execFileSync(vidx, ['index', '--db', db, '-q', sharedVideos], { env, stdio: 'inherit' });
    const sharedFiles = execFileSync('find', [sharedVideos, '-type', 'f', '!', '-name', '*.tsv']).toString().trim().split('\n').sort();
    check(sharedFiles.length >= 30, `shared clips found: ${sharedFiles.length}`);
    await playsAtMoment(page, base, db, sharedFiles, shots, 'shared');
    check(consoleErrors.length === 0, `no script errors: ${consoleErrors}`);

    // A rendition not made yet (a service that makes none): the page says so and shows
    // the moment's pictures instead of a black box.
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    fs.rmSync(ready);
    // This one keeps feeds private (an operator key), so a user signs in with the link an
    // admin made from their token.
    const admin = 'web-test-admin-token-0123456789';
    server = spawn(vidx, ['serve', '--db', db, '--listen', '127.0.0.1:0', '--ready-file', ready, '--no-renditions'],
      { env: { ...env, VIDX_API_KEY: 'web-test-operator-key-0123456789', VIDX_ADMIN_TOKEN: admin },
        stdio: ['ignore', log, log] });
    await waitFor(() => fs.existsSync(ready), 'the server to listen again');
    base = 'http://' + fs.readFileSync(ready, 'utf8').trim();
    await page.goto(base + '/');
    await page.fill('#user', 'tester');
    await page.click('#load-feed');
    await waitFor(async () => /sign-in link/.test(await page.textContent('#status')), 'the sign-in message');
    const issued = await (await fetch(`${base}/v1/users/tester/token`, { method: 'POST',
      headers: { Authorization: 'Bearer ' + admin } })).json();
    await page.goto('about:blank'); // a new load, not a change of fragment
    await page.goto(`${base}/#user=tester&token=${encodeURIComponent(issued.token)}`);
    check(await page.evaluate(() => location.hash === ''), 'the token leaves the address bar');
    await page.click('#load-feed');
    await page.waitForSelector('#feed .card');
    check(await page.$eval('#user', (u) => u.value) === 'tester', 'signed in as tester');
    await page.fill('#user', 'someone-else');
    await page.click('#load-feed');
    await waitFor(async () => /Feed failed: .*sign-in link/.test(await page.textContent('#status')),
      "another user's feed refused: the page has no token for them and sends tester's to nobody else");
    await page.screenshot({ path: path.join(shots, '5-signed-in.png') });
    const later = path.join(work, 'later.mpg');
    ffmpeg(['-f', 'lavfi', '-i', 'smptebars=size=320x240:rate=25', '-t', '12', '-c:v', 'mpeg1video', later]);
    execFileSync(vidx, ['index', '--db', db, '-q', later], { env, stdio: 'inherit' });
    const laterInfo = JSON.parse(execFileSync(vidx, ['video', '--db', db, '--json', later], { env }));
    check(laterInfo.playback === 'pending' && /mpeg1video/.test(laterInfo.playback_reason || ''),
      `pending, with the reason: ${laterInfo.playback} ${laterInfo.playback_reason}`);
    await page.evaluate((id) => openWatch({ video_id: id, title: 'later.mpg' }, 6), laterInfo.video_id);
    const pending = await waitFor(() => page.$eval('#watch-pending', (p) => (!p.hidden && p.textContent) || null),
      'the pending message');
    check(/being converted/.test(pending), `a pending rendition says so: ${pending}`);
    await waitFor(() => page.$$eval('#moment-strip img', (is) => is.length >= 2 && is.every((i) => i.complete && i.naturalWidth > 0)),
      "the moment's pictures");
    check(await page.$eval('#watch-problem', (p) => p.hidden), 'no playback problem while pending');
    check(await page.$eval('#player', (v) => !v.getAttribute('src')), 'no player source while pending');
    await page.screenshot({ path: path.join(shots, '6-rendition-pending.png') });

    // The service gone: the page says so.
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    await page.fill('#q', 'anything');
    await page.press('#q', 'Enter');
    await waitFor(async () => /cannot be reached/.test(await page.textContent('#status')), 'the unreachable message');
    await page.screenshot({ path: path.join(shots, '7-service-down.png') });
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
