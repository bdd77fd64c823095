// vidx web page: every string the page shows, in each language it speaks, in one table.
// A value is text, or a function of the named values it shows (plurals and order differ
// between languages). app.js picks the language (the switch, else the browser's
// preferences, the list it sends as Accept-Language) and reads strings with t().
'use strict';

const LANGUAGES = {
  en: { name: 'English', tag: 'en' },
  zh: { name: '中文', tag: 'zh-CN' },
};

const STRINGS = {
  // The page itself (index.html: data-i18n* attributes).
  search_placeholder: {
    en: 'Describe a moment: a dog on a beach, a red car at night...',
    zh: '描述一个画面：海滩上的狗、夜里的红色汽车……',
  },
  search_label: { en: 'Search videos', zh: '搜索视频' },
  search_button: { en: 'Search', zh: '搜索' },
  picture_button: { en: 'Picture…', zh: '以图搜索…' },
  picture_title: {
    en: 'Find the videos that look like a picture (JPEG, PNG or WebP)',
    zh: '查找与一张图片相似的视频（JPEG、PNG 或 WebP）',
  },
  user_placeholder: { en: 'your name', zh: '你的名字' },
  user_label: { en: 'User name', zh: '用户名' },
  feed_button: { en: 'My feed', zh: '我的推荐' },
  language_label: { en: 'Language', zh: '语言' },
  storyboard_label: { en: 'Key frames: jump to a moment', zh: '关键帧：跳到某一时刻' },
  like: { en: 'Like', zh: '喜欢' },
  dislike: { en: 'Not for me', zh: '不感兴趣' },
  skip: { en: 'Skip', zh: '跳过' },
  close: { en: 'Close', zh: '关闭' },
  more_like_this: { en: 'More like this', zh: '更多类似视频' },
  previous: { en: '← Previous', zh: '← 上一页' },
  next: { en: 'Next →', zh: '下一页 →' },
  welcome: {
    en: 'Search your videos by what happens in them, jump straight to the moment, and get a ' +
      'feed that learns from what you watch, like and skip. Enter a name to keep a feed.',
    zh: '按视频里发生的事情搜索你的视频，直接跳到相应的时刻，并获得一份从你的观看、喜欢和跳过中' +
      '学习的推荐。输入名字即可保留你的推荐。',
  },

  // Search.
  results_for_text: { en: (p) => `Results for “${p.q}”`, zh: (p) => `“${p.q}”的搜索结果` },
  results_for_text_tag: {
    en: (p) => `Results for “${p.q}” tagged ${p.tag}`,
    zh: (p) => `“${p.q}”（标签 ${p.tag}）的搜索结果`,
  },
  results_for_picture: { en: (p) => `Results for the picture “${p.name}”`, zh: (p) => `与图片“${p.name}”相似的视频` },
  page_info: {
    en: (p) => `${p.first}–${p.last} of ${p.total} · ${p.ms} ms`,
    zh: (p) => `第 ${p.first}–${p.last} 个，共 ${p.total} 个 · ${p.ms} 毫秒`,
  },
  no_match: { en: 'No videos match.', zh: '没有匹配的视频。' },
  no_match_page: { en: 'No videos match on this page.', zh: '这一页没有匹配的视频。' },
  partial: {
    en: (p) => `Some results may be missing: ${p.n} part${p.n === 1 ? '' : 's'} of the index did not answer in time.`,
    zh: (p) => `部分结果可能缺失：索引有 ${p.n} 个部分没有及时响应。`,
  },
  english_only: {
    en: 'Search by what is seen reads English only here; results for this query come from its words and from ' +
      'an English reading. An operator can add the multilingual text model (scripts/download_model.sh --text-model).',
    zh: '这里的画面搜索只能读懂英文；这个查询的结果来自文字匹配和英文模型的理解。' +
      '管理员可以添加多语言文本模型（scripts/download_model.sh --text-model）。',
  },
  text_search_off: { en: (p) => `Text search is off: ${p.message}`, zh: (p) => `文本搜索不可用：${p.message}` },
  search_failed: { en: (p) => `Search failed: ${p.message}`, zh: (p) => `搜索失败：${p.message}` },
  picture_too_large: {
    en: (p) => `The picture “${p.name}” is larger than ${p.mib} MiB: choose a smaller one.`,
    zh: (p) => `图片“${p.name}”超过 ${p.mib} MiB，请选择更小的图片。`,
  },

  // Cards.
  score_moment: {
    en: (p) => `score ${p.score}` + (p.from ? ` · ${p.from}–${p.to}` : ''),
    zh: (p) => `得分 ${p.score}` + (p.from ? ` · ${p.from}–${p.to}` : ''),
  },
  copies: { en: (p) => `${p.n} copies`, zh: (p) => `共 ${p.n} 个副本` },
  matched_visual: { en: 'visual', zh: '画面' },
  matched_title: { en: 'title', zh: '标题' },
  matched_description: { en: 'description', zh: '简介' },
  matched_tags: { en: 'tags', zh: '标签' },
  matched_subtitle: { en: 'subtitle', zh: '字幕' },
  matched_filename: { en: 'filename', zh: '文件名' },
  matched_frame: { en: 'frame', zh: '原画面' },

  // Feed.
  need_name: { en: 'Enter a name to see your feed.', zh: '请输入名字以查看你的推荐。' },
  feed_new_user: { en: (p) => `Popular and new, for ${p.user}`, zh: (p) => `热门与最新，为 ${p.user} 推荐` },
  feed_user: { en: (p) => `Your feed, ${p.user}`, zh: (p) => `${p.user} 的推荐` },
  feed_empty: { en: 'Nothing to recommend yet: index some videos first.', zh: '暂时没有可推荐的：请先索引一些视频。' },
  feed_failed: { en: (p) => `Feed failed: ${p.message}`, zh: (p) => `推荐加载失败：${p.message}` },
  need_name_event: {
    en: 'Enter your name (top right) so vidx can learn what you like.',
    zh: '请在右上角输入你的名字，vidx 才能了解你的喜好。',
  },
  liked: { en: 'Liked: your feed now leans this way.', zh: '已喜欢：你的推荐会更偏向这类视频。' },
  disliked: { en: 'Noted: fewer like this.', zh: '已记下：这类视频会减少。' },
  skipped: { en: 'Skipped.', zh: '已跳过。' },
  event_failed: { en: (p) => `Could not record that: ${p.message}`, zh: (p) => `无法记录：${p.message}` },

  // Watching.
  from_moment: { en: (p) => `from the matching moment at ${p.at}`, zh: (p) => `从匹配的时刻 ${p.at} 开始` },
  reupload_of: { en: (p) => `A re-upload of video ${p.id}.`, zh: (p) => `这是视频 ${p.id} 的重新上传。` },
  other_copies: { en: 'Other copies:', zh: '其他副本：' },
  copy_n: { en: (p) => `copy ${p.n}`, zh: (p) => `副本 ${p.n}` },
  no_similar: { en: (p) => `No similar videos: ${p.message}`, zh: (p) => `没有类似视频：${p.message}` },
  jump_to: { en: (p) => `Jump to ${p.at}`, zh: (p) => `跳到 ${p.at}` },
  key_frame_at: { en: (p) => `key frame at ${p.at}`, zh: (p) => `${p.at} 的关键帧` },
  picture_at: { en: (p) => `at ${p.at}`, zh: (p) => `${p.at}` },
  tag_at: { en: (p) => `at ${p.ranges}`, zh: (p) => `出现于 ${p.ranges}` },
  converting: {
    en: (p) => 'This video is being converted to a format browsers play' +
      (p.percent !== undefined ? ` (${p.percent}% done)` : '') + (p.reason ? ` (${p.reason})` : '') +
      '. It starts here when ready. The moment meanwhile:',
    zh: (p) => '这个视频正在转换为浏览器能播放的格式' + (p.percent !== undefined ? `（已完成 ${p.percent}%）` : '') +
      (p.reason ? `（${p.reason}）` : '') + '。完成后会在这里开始播放。先看看这一时刻的画面：',
  },
  rendition_asked: {
    en: 'This browser could not play the file as it is: a copy it plays is being made first.',
    zh: '此浏览器无法直接播放这个文件：正在优先生成一个它能播放的副本。',
  },
  no_playable_copy: {
    en: (p) => `no browser-playable copy could be made (${p.reason || 'no reason given'})`,
    zh: (p) => `无法生成浏览器可播放的版本（${p.reason || '未说明原因'}）`,
  },
  cannot_play: {
    en: (p) => `This video does not play in this browser: ${p.why}. You can `,
    zh: (p) => `这个视频无法在此浏览器中播放：${p.why}。你可以`,
  },
  download_file: { en: 'download the file', zh: '下载文件' },
  cannot_play_end: { en: ' to watch it in a player that reads it.', zh: '，用能打开它的播放器观看。' },
  media_aborted: { en: 'loading was stopped', zh: '加载被中止' },
  media_network: { en: 'a network error interrupted it', zh: '网络错误中断了加载' },
  media_decode: { en: 'the browser could not decode it', zh: '浏览器无法解码' },
  media_format: { en: "the browser does not read this file's format or codec", zh: '浏览器不支持这个文件的格式或编码' },
  media_unknown: { en: 'an unknown error', zh: '未知错误' },
  sound_only: {
    en: 'only its sound plays: the browser cannot decode its pictures',
    zh: '只能播放声音：浏览器无法解码画面',
  },

  // The service.
  unreachable: {
    en: 'The vidx service cannot be reached. Is `vidx serve` running?',
    zh: '无法连接 vidx 服务。`vidx serve` 是否在运行？',
  },
  service_answered: { en: (p) => `the service answered ${p.status}`, zh: (p) => `服务返回了 ${p.status}` },
  private_feeds: {
    en: 'this service keeps feeds private: open the sign-in link your admin gave you (/#user=NAME&token=TOKEN)',
    zh: '此服务的推荐是私密的：请打开管理员给你的登录链接（/#user=NAME&token=TOKEN）',
  },
  wrong_user: {
    en: 'this sign-in does not open that user: open the link given for it (/#user=NAME&token=TOKEN)',
    zh: '当前登录无法访问该用户：请打开为该用户提供的链接（/#user=NAME&token=TOKEN）',
  },
  model_waiting: {
    en: (p) => 'Search by what is seen, pictures as queries, "more like this" and tags wait for the CLIP model. ' +
      `Until it is in place, results come from titles, subtitles, descriptions and file names. (${p.problem})`,
    zh: (p) => '画面搜索、以图搜索、“更多类似视频”和标签需要 CLIP 模型。' +
      `在模型就位之前，结果来自标题、字幕、简介和文件名。（${p.problem}）`,
  },
  no_model: { en: 'no model', zh: '没有模型' },
};
