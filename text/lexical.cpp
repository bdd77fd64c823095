// vidx text: the lexical index on Xapian (text/lexical.h says what it holds and why).
#include "lexical.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include <xapian.h>

namespace {

const Xapian::valueno VALUE_VIDEO = 0; // the video id, 8 bytes big-endian: the collapse key
const Xapian::valueno VALUE_FIELD = 1; // the field, 1 byte (read by searches: the data only for a page)
const char *const GENERATION_KEY = "vidx.generation";

// Common English words: they match nearly every document, so they neither rank nor
// say what matched. Stemmed forms are stopped too (STOP_STEMMED).
const char *const STOPWORDS[] = {
    "a",     "an",    "and",  "are",  "as",   "at",   "be",   "but",  "by",    "for",  "if",    "in",
    "into",  "is",    "it",   "its",  "of",   "on",   "or",   "such", "that",  "the",  "their", "then",
    "there", "these", "they", "this", "to",   "was",  "will", "with", "he",    "she",  "his",   "her",
    "we",    "you",   "i",    "me",   "my",   "our",  "your", "them", "from",  "has",  "have",  "had",
    "been",  "were",  "do",   "does", "did",  "so",   "than", "too",  "very",  "can",  "just",  "not",
    "no",    "who",   "what", "which", "when", "where", "how", "all", "any",   "some", "about", "up",
    "out",   "over",  "while", "being", "am",  "him",  "us",   "it's", "there's",
};

const Xapian::SimpleStopper &stopper() {
    static const Xapian::SimpleStopper s(STOPWORDS, STOPWORDS + sizeof STOPWORDS / sizeof *STOPWORDS);
    return s;
}

std::string id_key(uint64_t id) {
    char b[8];
    for (int i = 0; i < 8; i++) b[i] = (char)(id >> (56 - 8 * i));
    return std::string(b, 8);
}

uint64_t id_from_key(const std::string &s) {
    uint64_t id = 0;
    for (size_t i = 0; i < 8 && i < s.size(); i++) id = id << 8 | (unsigned char)s[i];
    return id;
}

std::string hex16(uint64_t v) {
    char b[17];
    snprintf(b, sizeof b, "%016llx", (unsigned long long)v);
    return b;
}

std::string video_term(uint64_t id) { return "Q" + hex16(id); }
std::string digest_key(uint64_t id) { return "vidx.digest." + hex16(id); }

// Document data: field u8, then the text; for the subtitles document, its cues: per cue
// start f64, end f64, u32 the term position of its first word, u32 length, the text
// (native byte order: the index is local and derived, never copied between machines).
struct Cue {
    double start, end;
    uint32_t pos;
    std::string text;
};

void put_raw(std::string &s, const void *p, size_t n) { s.append((const char *)p, n); }

bool get_raw(const std::string &s, size_t *at, void *p, size_t n) {
    if (s.size() - *at < n) return false;
    memcpy(p, s.data() + *at, n);
    *at += n;
    return true;
}

// The cues of a subtitles document's data (after its field byte).
bool unpack_cues(const std::string &s, std::vector<Cue> *cues) {
    size_t at = 1;
    while (at < s.size()) {
        Cue c;
        uint32_t n;
        if (!get_raw(s, &at, &c.start, 8) || !get_raw(s, &at, &c.end, 8) || !get_raw(s, &at, &c.pos, 4) ||
            !get_raw(s, &at, &n, 4) || s.size() - at < n)
            return false;
        c.text.assign(s, at, n);
        at += n;
        cues->push_back(std::move(c));
    }
    return true;
}

// How text becomes terms, for the index and for the cues located afterwards alike:
// English stems ("Z" terms, without positions), stop words left out of those, CJK n-grams.
void configure(Xapian::TermGenerator &tg) {
    tg.set_stemmer(Xapian::Stem("english"));
    tg.set_stopper(&stopper());
    tg.set_stopper_strategy(Xapian::TermGenerator::STOP_STEMMED);
    tg.set_flags(Xapian::TermGenerator::FLAG_CJK_NGRAM);
}

int fail(vx_error *err, const char *what, const Xapian::Error &e) {
    return vx_fail(err, "text index: %s: %s", what, e.get_description().c_str());
}

struct Reader {
    Xapian::Database db;
    uint64_t seen; // commits it reflects
    explicit Reader(const std::string &dir) : db(dir), seen(0) {}
};

} // namespace

struct vx_lexical {
    std::string dir;
    Xapian::WritableDatabase writer;
    std::atomic<uint64_t> commits{0};
    std::atomic<uint64_t> documents{0}; // as of the last commit (read from any thread)
    std::mutex readers_mu;
    std::vector<Reader *> idle; // readers not in use
};

extern "C" vx_lexical *vx_lexical_open(const char *dir, vx_error *err) {
    vx_lexical *lx = new (std::nothrow) vx_lexical;
    if (!lx) {
        vx_fail(err, "out of memory");
        return nullptr;
    }
    try {
        lx->dir = dir;
        lx->writer = Xapian::WritableDatabase(dir, Xapian::DB_CREATE_OR_OPEN);
        lx->documents.store(lx->writer.get_doccount());
    } catch (const Xapian::Error &e) {
        fail(err, dir, e);
        delete lx;
        return nullptr;
    } catch (const std::exception &e) {
        vx_fail(err, "text index: %s: %s", dir, e.what());
        delete lx;
        return nullptr;
    }
    return lx;
}

extern "C" void vx_lexical_close(vx_lexical *lx) {
    if (!lx) return;
    for (Reader *r : lx->idle) delete r;
    try {
        lx->writer.close();
    } catch (const Xapian::Error &) {
        // uncommitted changes are dropped: the next open catches up from the catalog
    }
    delete lx;
}

extern "C" uint64_t vx_lexical_generation(vx_lexical *lx) {
    try {
        std::string g = lx->writer.get_metadata(GENERATION_KEY);
        return g.empty() ? UINT64_MAX : strtoull(g.c_str(), nullptr, 10);
    } catch (const Xapian::Error &) {
        return UINT64_MAX;
    }
}

extern "C" uint64_t vx_lexical_doc_count(vx_lexical *lx) { return lx->documents.load(); }

extern "C" uint64_t vx_lexical_commits(vx_lexical *lx) { return lx->commits.load(); }

extern "C" int vx_lexical_digest(vx_lexical *lx, uint64_t video_id, uint64_t *digest, vx_error *err) {
    try {
        std::string d = lx->writer.get_metadata(digest_key(video_id));
        *digest = d.empty() ? 0 : strtoull(d.c_str(), nullptr, 16);
        return 0;
    } catch (const Xapian::Error &e) {
        return fail(err, "reading a digest", e);
    }
}

// One document per field of the video: its titles, its descriptions, its tags, its
// subtitle cues (one document for all of them, the cues kept in its data to find the one
// that matched) and its file name. A video is the unit of results: BM25 over a field's
// whole text ranks videos as well as over single cues, and searches 50 times fewer
// documents at 50 cues per video (measured: bench/text_eval.md).
extern "C" int vx_lexical_put_video(vx_lexical *lx, uint64_t video_id, const vx_lexical_doc *docs, int n,
                                    uint64_t digest, vx_error *err) {
    try {
        const std::string term = video_term(video_id);
        lx->writer.delete_document(term);
        Xapian::TermGenerator tg;
        configure(tg);
        static const uint8_t fields[] = {VX_FIELD_TITLE, VX_FIELD_DESCRIPTION, VX_FIELD_TAG,
                                         VX_FIELD_SUBTITLE, VX_LEXICAL_FILE_NAME};
        for (uint8_t field : fields) {
            Xapian::Document doc;
            tg.set_document(doc);
            std::string data(1, (char)field);
            bool any = false;
            for (int i = 0; i < n; i++) {
                if (docs[i].field != field) continue;
                const size_t len = strlen(docs[i].text);
                if (any) tg.increase_termpos(); // no phrase across two pieces
                const uint32_t pos = (uint32_t)tg.get_termpos() + 1; // of the piece's first word
                tg.index_text(docs[i].text);
                if (field == VX_FIELD_SUBTITLE) {
                    const uint32_t n32 = (uint32_t)len;
                    put_raw(data, &docs[i].start, 8);
                    put_raw(data, &docs[i].end, 8);
                    put_raw(data, &pos, 4);
                    put_raw(data, &n32, 4);
                } else if (any) {
                    data += "\n";
                }
                data.append(docs[i].text, len);
                any = true;
            }
            if (!any) continue;
            doc.add_boolean_term(term);
            doc.add_value(VALUE_VIDEO, id_key(video_id));
            doc.add_value(VALUE_FIELD, std::string(1, (char)field));
            doc.set_data(data);
            lx->writer.add_document(doc);
        }
        lx->writer.set_metadata(digest_key(video_id), digest ? hex16(digest) : std::string());
        return 0;
    } catch (const Xapian::Error &e) {
        return fail(err, "updating a video", e);
    }
}

extern "C" int vx_lexical_commit(vx_lexical *lx, uint64_t generation, vx_error *err) {
    try {
        lx->writer.set_metadata(GENERATION_KEY, std::to_string((unsigned long long)generation));
        lx->writer.commit();
        lx->documents.store(lx->writer.get_doccount());
        lx->commits.fetch_add(1);
        return 0;
    } catch (const Xapian::Error &e) {
        return fail(err, "committing", e);
    }
}

// A reader at the latest commit: an idle one (reopened when commits came since), or a
// new one.
static Reader *take_reader(vx_lexical *lx) {
    Reader *r = nullptr;
    {
        std::lock_guard<std::mutex> g(lx->readers_mu);
        if (!lx->idle.empty()) {
            r = lx->idle.back();
            lx->idle.pop_back();
        }
    }
    const uint64_t now = lx->commits.load();
    if (!r) {
        r = new Reader(lx->dir);
        r->seen = now;
    } else if (r->seen != now) {
        r->db.reopen();
        r->seen = now;
    }
    return r;
}

static void give_back(vx_lexical *lx, Reader *r) {
    std::lock_guard<std::mutex> g(lx->readers_mu);
    lx->idle.push_back(r);
}

// What a search keeps to locate and quote the matches afterwards (only for the hits a
// page shows): the reader (its revision must stay), the query, the match set and the
// best documents' data.
struct SearchState {
    vx_lexical *lx;
    Reader *reader;
    Xapian::Query query;
    Xapian::MSet ms;
    Xapian::Stem stem;
    std::vector<Xapian::docid> docids;    // per hit: its best document (data and term positions)
};

static int search_with(SearchState *st, const char *query, int want, vx_lexical_hits *out) {
    Xapian::QueryParser qp;
    qp.set_database(st->reader->db);
    qp.set_stemmer(st->stem);
    qp.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
    qp.set_stopper(&stopper());
    qp.set_default_op(Xapian::Query::OP_OR);
    const unsigned flags = Xapian::QueryParser::FLAG_PHRASE | Xapian::QueryParser::FLAG_LOVEHATE |
                           Xapian::QueryParser::FLAG_CJK_NGRAM;
    try {
        st->query = qp.parse_query(query, flags);
    } catch (const Xapian::QueryParserError &) {
        st->query = qp.parse_query(query, Xapian::QueryParser::FLAG_CJK_NGRAM); // stray quotes: plain words
    }
    if (st->query.empty()) return 0;
    Xapian::Enquire enq(st->reader->db);
    enq.set_query(st->query);
    enq.set_collapse_key(VALUE_VIDEO);
    st->ms = enq.get_mset(0, (Xapian::doccount)want);
    out->matched_estimate = st->ms.get_matches_estimated();
    if (st->ms.empty()) return 0;
    out->items = (vx_lexical_hit *)calloc(st->ms.size(), sizeof *out->items);
    if (!out->items) return -1;
    st->docids.reserve(st->ms.size());
    for (Xapian::MSetIterator it = st->ms.begin(); it != st->ms.end(); ++it) {
        Xapian::Document doc = it.get_document(); // lazy: only the values below are read
        const std::string field = doc.get_value(VALUE_FIELD);
        if (field.size() != 1) continue;
        vx_lexical_hit *h = &out->items[out->n];
        h->field = (uint8_t)field[0];
        h->video_id = id_from_key(doc.get_value(VALUE_VIDEO));
        h->score = it.get_weight();
        st->docids.push_back(*it);
        out->n++;
    }
    return 0;
}

extern "C" int vx_lexical_search(vx_lexical *lx, const char *query, int want, vx_lexical_hits *out, vx_error *err) {
    memset(out, 0, sizeof *out);
    SearchState *st = new (std::nothrow) SearchState;
    if (!st) return vx_fail(err, "out of memory");
    st->lx = lx;
    st->reader = nullptr;
    st->stem = Xapian::Stem("english");
    // A reader may find its revision replaced by later commits mid-search: it reopens
    // and tries again, once.
    for (int attempt = 0;; attempt++) {
        try {
            if (!st->reader) st->reader = take_reader(lx);
            if (search_with(st, query, want, out)) {
                out->state = st;
                vx_lexical_hits_free(out);
                return vx_fail(err, "out of memory");
            }
            out->state = st; // the reader goes back when the hits are freed
            return 0;
        } catch (const Xapian::DatabaseModifiedError &e) {
            free(out->items);
            memset(out, 0, sizeof *out);
            st->docids.clear();
            if (attempt || !st->reader) {
                out->state = st;
                vx_lexical_hits_free(out);
                return fail(err, "searching", e);
            }
            st->reader->db.reopen();
        } catch (const Xapian::Error &e) {
            out->state = st;
            vx_lexical_hits_free(out);
            return fail(err, "searching", e);
        } catch (const std::bad_alloc &) {
            out->state = st;
            vx_lexical_hits_free(out);
            return vx_fail(err, "out of memory");
        }
    }
}

static std::string snippet_of(SearchState *st, const std::string &text) {
    std::string snip = st->ms.snippet(text, 160, st->stem,
                                      Xapian::MSet::SNIPPET_EXHAUSTIVE | Xapian::MSet::SNIPPET_CJK_NGRAM, "<b>", "</b>",
                                      "\xe2\x80\xa6");
    // CJK n-grams are highlighted one by one: "<b>北</b><b>京</b>" reads as "<b>北京</b>".
    for (size_t at; (at = snip.find("</b><b>")) != std::string::npos;) snip.erase(at, 7);
    return snip;
}

// Where the words matched among a video's cues: the cue, or the run of two adjacent
// cues, that matches the query best. Ranked by how many of the query's terms it holds
// (stop words count for nothing), then by how close together they are (the shortest run
// of words that holds one of each, less their count: 0 for a phrase), then by fewer cues,
// then by BM25 over the cues (rarer terms weigh more), then the earlier. Read from the
// word positions the index keeps in the subtitles document; a stemmed query term (they
// have no positions) stands for the document's words with that stem, found by their
// common start and stemmed again. No text is tokenized again.
namespace {

struct Place {
    size_t first, cues;    // cues[first .. first + cues)
    int terms = 0;         // query terms held
    uint32_t slack = 0;    // shortest run holding one of each, less their count
    double bm25 = 0;
    Place(size_t f, size_t n) : first(f), cues(n) {}
};

bool better(const Place &a, const Place &b) {
    if (a.terms != b.terms) return a.terms > b.terms;
    if (a.slack != b.slack) return a.slack < b.slack;
    if (a.cues != b.cues) return a.cues < b.cues;
    if (a.bm25 != b.bm25) return a.bm25 > b.bm25;
    return a.first < b.first;
}

// The positions in document did of the words query term q stands for, sorted.
std::vector<uint32_t> positions_of(const Xapian::Database &db, Xapian::docid did, const std::string &q,
                                   const Xapian::Stem &stem) {
    std::vector<uint32_t> at;
    auto add = [&](const std::string &term) {
        for (Xapian::PositionIterator p = db.positionlist_begin(did, term); p != db.positionlist_end(did, term); ++p)
            at.push_back(*p);
    };
    if (q.empty() || q[0] != 'Z') {
        add(q);
        return at;
    }
    // A stem's words start as it does but for its last letter ("pony" -> "poni").
    const std::string s = q.substr(1), start = s.substr(0, s.size() > 1 ? s.size() - 1 : s.size());
    Xapian::TermIterator t = db.termlist_begin(did);
    for (t.skip_to(start); t != db.termlist_end(did) && (*t).compare(0, start.size(), start) == 0; ++t)
        if (stem(*t) == s) add(*t);
    std::sort(at.begin(), at.end());
    return at;
}

// The shortest window of positions in [lo, hi) holding one of each term found there, less
// their count; hits: (position, term), sorted by position.
uint32_t slack_of(const std::vector<std::pair<uint32_t, int>> &hits, size_t from, size_t to, size_t n_terms) {
    std::vector<int> have(n_terms, 0);
    size_t distinct = 0;
    for (size_t i = from; i < to; i++) distinct += have[(size_t)hits[i].second]++ == 0;
    if (distinct < 2) return 0;
    std::fill(have.begin(), have.end(), 0);
    size_t covered = 0, lo = from;
    uint32_t best = UINT32_MAX;
    for (size_t hi = from; hi < to; hi++) {
        covered += have[(size_t)hits[hi].second]++ == 0;
        while (covered == distinct) {
            best = std::min(best, hits[hi].first - hits[lo].first + 1);
            covered -= --have[(size_t)hits[lo].second] == 0;
            lo++;
        }
    }
    return best - (uint32_t)distinct;
}

} // namespace

static Place best_place(SearchState *st, Xapian::docid did, const std::vector<Cue> &cues) {
    const Xapian::Database &db = st->reader->db;
    const double docs = (double)db.get_doccount();
    // Every position of a query term, and the cue it falls in.
    std::vector<double> idf;
    std::vector<std::pair<uint32_t, int>> hits; // (position, query term)
    for (Xapian::TermIterator t = st->query.get_unique_terms_begin(); t != st->query.get_unique_terms_end(); ++t) {
        const std::string term = *t;
        if (stopper()(term[0] == 'Z' ? term.substr(1) : term)) continue; // a stop word in a phrase
        const double n = (double)db.get_termfreq(term);
        const int k = (int)idf.size();
        idf.push_back(log(1.0 + (docs - n + 0.5) / (n + 0.5)));
        for (uint32_t p : positions_of(db, did, term, st->stem)) hits.emplace_back(p, k);
    }
    std::sort(hits.begin(), hits.end());
    // The cue of a position: the last whose first position is at or before it.
    auto cue_of = [&](uint32_t p) {
        size_t lo = 0, hi = cues.size();
        while (hi - lo > 1) {
            const size_t mid = (lo + hi) / 2;
            if (cues[mid].pos <= p) lo = mid;
            else hi = mid;
        }
        return lo;
    };
    std::vector<size_t> begin(cues.size() + 1, hits.size()); // hits of cue c: [begin[c], begin[c + 1])
    for (size_t i = hits.size(); i-- > 0;) begin[cue_of(hits[i].first)] = i;
    for (size_t c = cues.size(); c-- > 0;) begin[c] = std::min(begin[c], begin[c + 1]);
    // Words per cue, from the positions where cues start (the last runs to its last hit).
    auto words = [&](size_t c) {
        const uint32_t end = c + 1 < cues.size() ? cues[c + 1].pos
                                                 : std::max(cues[c].pos + 1, hits.empty() ? 0u : hits.back().first + 1);
        return (double)(end > cues[c].pos ? end - cues[c].pos : 1);
    };
    double all_words = 0;
    for (size_t c = 0; c < cues.size(); c++) all_words += words(c);
    const double avg = cues.empty() ? 1 : all_words / (double)cues.size();
    auto place = [&](size_t first, size_t n) {
        Place pl(first, n);
        const size_t from = begin[first], to = begin[first + n];
        std::vector<double> tf(idf.size(), 0);
        for (size_t i = from; i < to; i++) tf[(size_t)hits[i].second]++;
        double length = 0;
        for (size_t c = first; c < first + n; c++) length += words(c);
        const double k1 = 1.2, b = 0.75;
        for (size_t k = 0; k < idf.size(); k++)
            if (tf[k] > 0) {
                pl.terms++;
                pl.bm25 += idf[k] * tf[k] * (k1 + 1) / (tf[k] + k1 * (1 - b + b * length / ((double)n * avg)));
            }
        pl.slack = slack_of(hits, from, to, idf.size());
        return pl;
    };
    Place best(0, 1);
    std::vector<int> terms(cues.size(), 0);
    for (size_t c = 0; c < cues.size(); c++) {
        if (begin[c] == begin[c + 1]) continue; /* nothing there */
        const Place one = place(c, 1);
        terms[c] = one.terms;
        if (best.terms == 0 || better(one, best)) best = one;
    }
    // A run of two: only where it holds more of the query than either cue alone (a
    // phrase said across them).
    for (size_t c = 0; c + 1 < cues.size(); c++) {
        if (!terms[c] || !terms[c + 1]) continue;
        const Place two = place(c, 2);
        if (two.terms > terms[c] && two.terms > terms[c + 1] && better(two, best)) best = two;
    }
    return best;
}

extern "C" char *vx_lexical_locate(const vx_lexical_hits *h, int i, double *start, double *end) {
    SearchState *st = (SearchState *)h->state;
    *start = *end = 0;
    if (!st || i < 0 || i >= h->n || (size_t)i >= st->docids.size()) return nullptr;
    try {
        const std::string data = st->reader->db.get_document(st->docids[(size_t)i]).get_data();
        if (data.empty()) return strdup("");
        std::string snip;
        if (h->items[i].field == VX_FIELD_SUBTITLE) {
            std::vector<Cue> cues;
            if (!unpack_cues(data, &cues) || cues.empty()) return strdup("");
            const Place pl = best_place(st, st->docids[(size_t)i], cues);
            std::string text;
            for (size_t c = pl.first; c < pl.first + pl.cues; c++) text += (text.empty() ? "" : " ") + cues[c].text;
            *start = cues[pl.first].start;
            *end = cues[pl.first + pl.cues - 1].end;
            snip = snippet_of(st, text);
        } else {
            snip = snippet_of(st, data.substr(1));
        }
        return strdup(snip.c_str());
    } catch (const std::exception &) {
        return nullptr;
    } catch (const Xapian::Error &) {
        return nullptr;
    }
}

extern "C" void vx_lexical_hits_free(vx_lexical_hits *h) {
    SearchState *st = (SearchState *)h->state;
    if (st) {
        if (st->reader) give_back(st->lx, st->reader);
        delete st;
    }
    free(h->items);
    memset(h, 0, sizeof *h);
}
