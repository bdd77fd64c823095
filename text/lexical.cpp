// vidx text: the lexical index on Xapian (text/lexical.h says what it holds and why).
#include "lexical.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

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
        tg.set_stemmer(Xapian::Stem("english"));
        tg.set_stopper(&stopper());
        tg.set_stopper_strategy(Xapian::TermGenerator::STOP_STEMMED);
        tg.set_flags(Xapian::TermGenerator::FLAG_CJK_NGRAM);
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

// The cue the words matched best: the most query terms, each weighed by how rare it is
// (its inverse document frequency), ties to the earlier cue. Read from the positions
// the index keeps of each term in the document: no text is tokenized again.
static size_t best_cue(SearchState *st, Xapian::docid did, const std::vector<Cue> &cues) {
    std::vector<double> score(cues.size(), 0.0);
    std::vector<size_t> seen_at(cues.size(), SIZE_MAX); // the term that last scored the cue
    const Xapian::Database &db = st->reader->db;
    const double docs = (double)db.get_doccount() + 1;
    size_t k = 0;
    for (Xapian::TermIterator t = st->query.get_unique_terms_begin(); t != st->query.get_unique_terms_end(); ++t, ++k) {
        const double w = log(docs / ((double)db.get_termfreq(*t) + 1)) + 1e-3;
        for (Xapian::PositionIterator p = db.positionlist_begin(did, *t); p != db.positionlist_end(did, *t); ++p) {
            // The cue whose first position is the last one at or before p.
            size_t lo = 0, hi = cues.size();
            while (hi - lo > 1) {
                const size_t mid = (lo + hi) / 2;
                if (cues[mid].pos <= *p) lo = mid;
                else hi = mid;
            }
            if (seen_at[lo] != k) {
                seen_at[lo] = k;
                score[lo] += w;
            }
        }
    }
    size_t best = 0;
    for (size_t c = 1; c < cues.size(); c++)
        if (score[c] > score[best]) best = c;
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
            const Cue &c = cues[best_cue(st, st->docids[(size_t)i], cues)];
            *start = c.start;
            *end = c.end;
            snip = snippet_of(st, c.text);
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
