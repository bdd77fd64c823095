// vidx web page: search, watch at the matching moment, more like this, personal feed.
// Plain JavaScript against the service's own /v1 API; nothing loaded from elsewhere.
'use strict';

const $ = (sel) => document.querySelector(sel);
const PAGE = 12;
const PICTURE_MAX_BYTES = 8 << 20; // VX_PICTURE_MAX_BYTES (indexer/picture.h)
const state = { q: '', offset: 0, total: 0, user: localStorage.getItem('vidx.user') || '', watching: null, picture: null, tag: null };

function showStatus(message, kind) {
  const el = $('#status');
  el.textContent = message;
  el.className = kind || '';
  el.hidden = !message;
}

// Signing in, where the service keeps feeds private: an admin gives each user a link
// http://HOST/#user=NAME&token=TOKEN (POST /v1/users/NAME/token). A fragment never
// reaches the server or its logs; the page keeps the token and sends it, as
// "Authorization: Bearer TOKEN", only with that user's requests.
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get('user') && fragment.get('token')) {
  localStorage.setItem('vidx.user', fragment.get('user'));
  localStorage.setItem('vidx.token.' + fragment.get('user'), fragment.get('token'));
  state.user = fragment.get('user');
  history.replaceState(null, '', location.pathname + location.search);
}
// The token of the user a path is about ("/v1/users/NAME/..."), if the page has one.
function tokenFor(path) {
  const m = /^\/v1\/users\/([^/?]+)/.exec(path);
  return m ? localStorage.getItem('vidx.token.' + decodeURIComponent(m[1])) : null;
}

// Fetches JSON from the API; throws an Error whose message is fit to show.
async function api(path, options) {
  let response;
  options = options || {};
  const token = tokenFor(path);
  if (token) options.headers = { ...(options.headers || {}), Authorization: 'Bearer ' + token };
  try {
    response = await fetch(path, options);
  } catch (e) {
    throw new Error('The vidx service cannot be reached. Is `vidx serve` running?');
  }
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  if (!response.ok) {
    let message = body && body.error ? body.error.message : `the service answered ${response.status}`;
    if (response.status === 401 && path.startsWith('/v1/users/')) {
      message = 'this service keeps feeds private: open the sign-in link your admin gave you (/#user=NAME&token=TOKEN)';
    } else if (response.status === 403 && path.startsWith('/v1/users/')) {
      message = 'this sign-in does not open that user: open the link given for it (/#user=NAME&token=TOKEN)';
    }
    const err = new Error(message);
    err.code = body && body.error ? body.error.code : String(response.status);
    throw err;
  }
  return body;
}

function clock(seconds) {
  const s = Math.max(0, seconds || 0);
  const m = Math.floor(s / 60);
  return `${m}:${(s - 60 * m).toFixed(0).padStart(2, '0')}`;
}

// A snippet (HTML-escaped text, matches in <b>…</b>) as DOM nodes: text and <mark>,
// never parsed as HTML.
const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&#x27;': "'" };
function snippetNodes(html) {
  let bold = false;
  const nodes = [];
  for (const part of html.split(/(<\/?b>)/)) {
    if (part === '<b>' || part === '</b>') { bold = part === '<b>'; continue; }
    if (!part) continue;
    const text = part.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (m) => ENTITIES[m]);
    if (bold) {
      const m = document.createElement('mark');
      m.textContent = text;
      nodes.push(m);
    } else nodes.push(document.createTextNode(text));
  }
  return nodes;
}

// A result or feed card; opens the player at `start` seconds when clicked.
function card(item, start, detail) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'card';
  b.dataset.id = item.video_id;
  b.dataset.start = String(start);
  const img = document.createElement('img');
  img.loading = 'lazy';
  img.alt = '';
  img.src = item.moment_thumbnail || item.thumbnail;
  img.onerror = () => { img.removeAttribute('src'); };
  const body = document.createElement('div');
  body.className = 'body';
  const title = document.createElement('div');
  title.className = 'title';
  title.textContent = item.title || item.video_id;
  title.title = item.path || '';
  const meta = document.createElement('div');
  meta.className = detail && detail.reason ? 'reason' : 'meta';
  meta.textContent = detail && detail.reason ? item.reason
    : `score ${Number(item.score).toFixed(3)}` + (item.moment ? ` · ${clock(item.moment.start)}–${clock(item.moment.end)}` : '');
  body.append(title, meta);
  // What the words matched (beyond the pictures), and where.
  const words = (item.matched || []).filter((m) => m !== 'visual');
  if (words.length) {
    const matched = document.createElement('div');
    matched.className = 'matched';
    matched.textContent = words.join(' · ');
    body.append(matched);
  }
  if (item.snippet) {
    const snip = document.createElement('div');
    snip.className = 'snippet';
    snip.append(...snippetNodes(item.snippet));
    body.append(snip);
  }
  b.append(img, body);
  b.addEventListener('click', () => openWatch(item, start));
  return b;
}

// Searches by the words typed, or by the picture chosen (state.picture, sent as the body).
async function search(offset) {
  const q = $('#q').value.trim();
  if (!q && !state.picture) return;
  state.q = q;
  state.offset = offset;
  showStatus('');
  const section = $('#results-section');
  const what = state.picture ? `the picture “${state.picture.name}”` : `“${q}”` + (state.tag ? ` tagged ${state.tag}` : '');
  try {
    const r = state.picture
      ? await api(`/v1/search?k=${PAGE}&offset=${offset}`, { method: 'POST', body: state.picture,
        headers: { 'Content-Type': state.picture.type || 'application/octet-stream' } })
      : await api(`/v1/search?k=${PAGE}&offset=${offset}&q=${encodeURIComponent(q)}` +
        (state.tag ? `&tag=${encodeURIComponent(state.tag)}` : ''));
    state.total = r.total;
    const grid = $('#results');
    grid.replaceChildren(...r.results.map((x) => card(x, x.moment ? x.moment.start : 0)));
    $('#results-title').textContent = `Results for ${what}`;
    $('#page-info').textContent = r.results.length
      ? `${offset + 1}–${offset + r.results.length} of ${r.total} · ${r.took_ms} ms` : '';
    $('#prev').disabled = offset === 0;
    $('#next').disabled = offset + r.results.length >= r.total || r.results.length < PAGE;
    section.hidden = false;
    $('#welcome').hidden = true;
    if (!r.results.length) showStatus(`No videos match ${what}${offset ? ' on this page' : ''}.`, 'info');
    else if (r.partial) {
      // A sharded cluster answered without some of its shards: say that videos may be missing.
      const m = r.shards_missing;
      showStatus(`Some results may be missing: ${m} part${m === 1 ? '' : 's'} of the index did not answer in time.`, 'info');
    }
  } catch (e) {
    section.hidden = true;
    showStatus(e.code === 'model_missing' ? `Text search is off: ${e.message}` : `Search failed: ${e.message}`);
  }
}

async function loadFeed() {
  const user = $('#user').value.trim();
  if (!user) { showStatus('Enter a name to see your feed.', 'info'); return; }
  state.user = user;
  localStorage.setItem('vidx.user', user);
  try {
    const f = await api(`/v1/users/${encodeURIComponent(user)}/feed?k=${PAGE}`);
    const grid = $('#feed');
    grid.replaceChildren(...f.items.map((x) => card(x, 0, { reason: true })));
    grid.dataset.newUser = String(f.new_user);
    grid.dataset.events = String(f.events);
    $('#feed-title').textContent = f.new_user ? `Popular and new, for ${user}` : `Your feed, ${user}`;
    $('#feed-section').hidden = false;
    $('#welcome').hidden = true;
    if (!f.items.length) showStatus('Nothing to recommend yet: index some videos first.', 'info');
  } catch (e) {
    showStatus(`Feed failed: ${e.message}`);
  }
}

// Says why the video does not play, instead of leaving a black box, with a link to the
// file for a player that reads it.
function showPlaybackProblem(why) {
  const el = $('#watch-problem');
  const link = document.createElement('a');
  link.href = `/v1/videos/${state.watching.id}/media?original=1`;
  link.download = '';
  link.textContent = 'download the file';
  el.replaceChildren(`This video does not play in this browser: ${why}. You can `, link,
    ' to watch it in a player that reads it.');
  el.hidden = false;
}

const MEDIA_ERRORS = {
  1: 'loading was stopped',
  2: 'a network error interrupted it',
  3: 'the browser could not decode it',
  4: "the browser does not read this file's format or codec",
};

// The pictures of the segments around the moment, while the video cannot play yet.
function showMomentPictures(video, start) {
  const segs = (video.segments || []).slice();
  segs.sort((a, b) => Math.abs(a.start - start) - Math.abs(b.start - start));
  const near = segs.slice(0, 5).sort((a, b) => a.start - b.start);
  $('#moment-strip').replaceChildren(...near.map((s) => {
    const f = document.createElement('figure');
    const img = document.createElement('img');
    img.src = s.thumbnail;
    img.alt = `at ${clock(s.start)}`;
    f.append(img, clock(s.start));
    return f;
  }));
}

// The key frames under the player: a click jumps to that moment.
function showStoryboard(info) {
  const board = $('#storyboard');
  const keys = (info && info.keyframes) || [];
  board.replaceChildren(...keys.map((k) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.title = `Jump to ${clock(k.t)}`;
    const f = document.createElement('figure');
    const img = document.createElement('img');
    img.src = k.thumbnail;
    img.alt = `key frame at ${clock(k.t)}`;
    f.append(img, clock(k.t));
    b.append(f);
    b.addEventListener('click', () => {
      const video = $('#player');
      if (!video.getAttribute('src')) return; /* not playable yet */
      video.currentTime = k.t;
      video.play().catch(() => {});
      board.querySelectorAll('button').forEach((x) => x.classList.toggle('current', x === b));
    });
    return b;
  }));
  board.hidden = keys.length === 0;
  // Its zero-shot tags (scenes, actions, emotions), best first: a click searches by it.
  const tags = (info && info.tags) || [];
  $('#watch-tags').replaceChildren(...tags.slice(0, 8).map((t) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'tag';
    b.textContent = `${t.vocabulary}: ${t.label}`;
    b.title = 'at ' + t.ranges.map((r) => `${clock(r.start)}–${clock(r.end)}`).join(', ');
    b.addEventListener('click', () => {
      state.picture = null;
      state.tag = `${t.vocabulary}:${t.label}`;
      if (!$('#q').value.trim()) $('#q').value = t.label;
      search(0);
    });
    return b;
  }));
  $('#watch-tags').hidden = tags.length === 0;
  const re = $('#watch-reupload');
  re.textContent = info && info.near_duplicate_of ? `A re-upload of video ${info.near_duplicate_of}.` : '';
  re.hidden = !(info && info.near_duplicate_of);
}

// Starts the player at the moment: the original when browsers play it, else its
// rendition; while the rendition is being made the page says so, shows the moment's
// pictures and checks back until it is ready.
async function loadPlayer(item, start) {
  const video = $('#player');
  const id = item.video_id;
  let info = null;
  try { info = await api(`/v1/videos/${id}`); } catch (e) { /* try the media anyway */ }
  if (!state.watching || state.watching.id !== id) return;
  showStoryboard(info);
  const playback = info && info.playback;
  if (playback === 'pending') {
    const progress = info.rendition_progress >= 0 ? ` (${Math.round(100 * info.rendition_progress)}% done)` : '';
    $('#watch-pending-text').textContent = 'This video is being converted to a format browsers play' + progress +
      (info.playback_reason ? ` (${info.playback_reason})` : '') + '. It starts here when ready. The moment meanwhile:';
    showMomentPictures(info, start);
    $('#watch-pending').hidden = false;
    state.watching.retry = setTimeout(() => loadPlayer(item, start), 2000);
    return;
  }
  $('#watch-pending').hidden = true;
  if (playback === 'failed') {
    showPlaybackProblem(`no browser-playable copy could be made (${info.playback_reason || 'no reason given'})`);
    return;
  }
  // The media fragment starts the player at the moment by itself; the seek on
  // loadedmetadata is for players that ignore it.
  video.src = `/v1/videos/${id}/media` + (start > 0 ? `#t=${start}` : '');
  video.addEventListener('loadedmetadata', () => { if (Math.abs(video.currentTime - start) > 0.5) video.currentTime = start; },
    { once: true });
  video.play().catch(() => { /* autoplay refused: the controls are there */ });
}

async function openWatch(item, start) {
  const video = $('#player');
  if (state.watching && state.watching.retry) clearTimeout(state.watching.retry);
  state.watching = { id: item.video_id, reported: false };
  video.dataset.id = item.video_id;
  video.dataset.start = String(start);
  $('#watch-problem').hidden = true;
  $('#watch-pending').hidden = true;
  $('#storyboard').hidden = true;
  $('#watch-reupload').hidden = true;
  // The moment's picture shows while the video loads (and if it cannot play).
  video.poster = item.moment_thumbnail || item.thumbnail || `/thumbs/${item.video_id}.jpg`;
  video.removeAttribute('src');
  video.load();
  $('#watch-title').textContent = item.title || item.video_id;
  $('#watch-moment').textContent = start > 0 ? `from the matching moment at ${clock(start)}` : '';
  $('#watch').hidden = false;
  $('#welcome').hidden = true;
  window.scrollTo({ top: 0, behavior: 'smooth' });
  loadPlayer(item, start);
  const list = $('#similar');
  list.replaceChildren();
  try {
    const r = await api(`/v1/videos/${item.video_id}/similar?k=6`);
    list.replaceChildren(...r.results.map((x) => card(x, 0)));
  } catch (e) {
    list.textContent = `No similar videos: ${e.message}`;
  }
}

// Sends what the user did with the video being watched, then refreshes the feed.
async function sendEvent(type) {
  const video = $('#player');
  if (!state.watching) return;
  const user = $('#user').value.trim();
  if (!user) {
    if (type !== 'view') showStatus('Enter your name (top right) so vidx can learn what you like.', 'info');
    return;
  }
  try {
    await api(`/v1/users/${encodeURIComponent(user)}/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ video_id: state.watching.id, type, seconds: Number(video.currentTime.toFixed(2)) }),
    });
    if (type !== 'view') showStatus(type === 'like' ? 'Liked: your feed now leans this way.'
      : type === 'dislike' ? 'Noted: fewer like this.' : type === 'skip' ? 'Skipped.' : '', 'info');
    await loadFeed();
  } catch (e) {
    showStatus(`Could not record that: ${e.message}`);
  }
}

function closeWatch() {
  const video = $('#player');
  if (state.watching && state.watching.retry) clearTimeout(state.watching.retry);
  if (state.watching && !state.watching.reported && video.currentTime > 1) sendEvent('view');
  video.pause();
  video.removeAttribute('src');
  video.load();
  state.watching = null;
  $('#watch').hidden = true;
}

// A new search, a picture or "My feed" is a new start: the player open above closes (it
// stayed on screen above the new results). Pages of the same search and the feed's own
// refresh after a like leave it open.
$('#search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  closeWatch();
  state.picture = null;
  state.tag = null;
  search(0);
});
$('#picture').addEventListener('change', () => {
  const file = $('#picture').files[0];
  $('#picture').value = '';
  if (!file) return;
  if (file.size > PICTURE_MAX_BYTES) { // the service refuses it before reading it
    showStatus(`The picture “${file.name}” is larger than ${PICTURE_MAX_BYTES >> 20} MiB: choose a smaller one.`, 'error');
    return;
  }
  closeWatch();
  state.picture = file;
  state.tag = null;
  search(0);
});
$('#user-form').addEventListener('submit', (e) => { e.preventDefault(); closeWatch(); loadFeed(); });
$('#prev').addEventListener('click', () => search(Math.max(0, state.offset - PAGE)));
$('#next').addEventListener('click', () => search(state.offset + PAGE));
$('#like').addEventListener('click', () => sendEvent('like'));
$('#dislike').addEventListener('click', () => sendEvent('dislike'));
$('#skip').addEventListener('click', () => { sendEvent('skip'); closeWatch(); });
$('#close').addEventListener('click', closeWatch);
$('#player').addEventListener('error', () => {
  const v = $('#player');
  if (state.watching && v.error && v.getAttribute('src')) showPlaybackProblem(MEDIA_ERRORS[v.error.code] || 'an unknown error');
});
$('#player').addEventListener('loadeddata', () => {
  const v = $('#player');
  // A file whose sound plays but whose pictures the browser cannot decode.
  if (state.watching && v.videoWidth === 0) showPlaybackProblem('only its sound plays: the browser cannot decode its pictures');
});
$('#player').addEventListener('ended', () => {
  if (state.watching) { state.watching.reported = true; sendEvent('complete'); }
});
$('#user').value = state.user;
if (state.user) loadFeed();

// Without the CLIP model the service answers from words (titles, subtitles, file names)
// and says so here until the model is in place; it takes the model up on its own.
async function checkModel() {
  let health;
  try {
    health = await api('/healthz');
  } catch (err) {
    return;
  }
  const waiting = health.visual_search && health.visual_search !== 'on';
  const note = $('#model-note');
  note.hidden = !waiting;
  if (!waiting) return;
  note.textContent = 'Search by what is seen, pictures as queries, "more like this" and tags wait for the CLIP model. ' +
    'Until it is in place, results come from titles, subtitles, descriptions and file names. (' +
    (health.model_problem || 'no model') + ')';
  setTimeout(checkModel, 15000);
}
checkModel();
