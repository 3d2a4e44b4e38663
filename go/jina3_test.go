package jina3_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"jina3"
	"jina3/internal/capiref"
)

// Texts that cross cgo as UTF-8: accents, CJK, emoji, an empty text, a NUL byte.
var texts = []string{
	"Paris is the capital and largest city of France.",
	"Berlin ist die Hauptstadt von Deutschland.",
	"東京は日本の首都です。",
	"The Eiffel Tower 🗼 was completed in 1889; café, naïve.",
	"",
	"a NUL \x00 inside",
}

const tolerance = 1e-6

// packageDir is the tiny float32 package the build generates: $JINA3_TEST_PACKAGE, else
// $JINA3_TEST_DATA/package-float32, else the main build's testdata.
func packageDir(t testing.TB) string {
	dir := os.Getenv("JINA3_TEST_PACKAGE")
	if dir == "" && os.Getenv("JINA3_TEST_DATA") != "" {
		dir = filepath.Join(os.Getenv("JINA3_TEST_DATA"), "package-float32")
	}
	if dir == "" {
		dir = filepath.Join("..", "build", "testdata", "package-float32")
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatalf("no test package at %s (build the project and run ctest -R make_test_data, or set JINA3_TEST_PACKAGE)", dir)
	}
	return dir
}

func open(t testing.TB, opts ...jina3.Option) *jina3.Encoder {
	t.Helper()
	e, err := jina3.Open(packageDir(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func reference(t testing.TB) *capiref.Encoder {
	t.Helper()
	r, err := capiref.Open(packageDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func maxDiff(t testing.TB, a, b []float32) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("lengths differ: %d and %d", len(a), len(b))
	}
	worst := 0.0
	for i := range a {
		worst = math.Max(worst, math.Abs(float64(a[i])-float64(b[i])))
	}
	return worst
}

func busyTexts() []string {
	out := make([]string, 1500)
	for i := range out {
		out[i] = fmt.Sprintf("document %d ", i) + strings.Repeat("several words of filler text ", 20)
	}
	return out
}

// busy opens an encoder with one thread (and opts) whose worker is kept busy for a while by the
// request returned with it; the request is cancelled and closed when the test ends.
func busy(t *testing.T, opts ...jina3.Option) (*jina3.Encoder, *jina3.Request) {
	t.Helper()
	e := open(t, append(opts, jina3.WithThreads(1))...)
	r, err := e.Submit(busyTexts(), []jina3.Task{jina3.RetrievalPassage}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Cancel()
		r.Close()
	})
	return e, r
}

func TestEncodeEqualsTheCAPI(t *testing.T) {
	t.Parallel()
	e, ref := open(t), reference(t)
	ctx := context.Background()
	tasks := e.Tasks()
	if len(tasks) < 5 {
		t.Fatalf("the test package has every adapter: %v", tasks)
	}
	smallest := e.Dims()[0]
	for _, task := range append(tasks, jina3.TaskNone) {
		for _, dims := range []int{0, smallest} {
			got, err := e.Encode(ctx, texts, task, dims)
			if err != nil {
				t.Fatal(err)
			}
			width := dims
			if dims == 0 {
				width = e.HiddenSize()
			}
			if got.Rows != len(texts) || got.Dims != width {
				t.Fatalf("%v dims %d: shape %dx%d", task, dims, got.Rows, got.Dims)
			}
			want, err := ref.Encode(texts, int(task), dims, width)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(t, got.Data, want); d > tolerance {
				t.Fatalf("%v dims %d: %g from the C API", task, dims, d)
			}
			for i := 0; i < got.Rows; i++ {
				var norm float64
				for _, v := range got.Row(i) {
					norm += float64(v) * float64(v)
				}
				if math.Abs(math.Sqrt(norm)-1) > 1e-4 || got.Truncated[i] {
					t.Fatalf("row %d: norm %g, truncated %v", i, math.Sqrt(norm), got.Truncated[i])
				}
			}
		}
	}
	rows, _ := e.Encode(ctx, texts[:2], jina3.RetrievalPassage, 0)
	if maxDiff(t, rows.Row(0), rows.Row(1)) < 1e-3 {
		t.Fatal("distinct texts gave equal rows")
	}
	empty, err := e.Encode(ctx, nil, jina3.RetrievalQuery, 0)
	if err != nil || empty.Rows != 0 {
		t.Fatalf("no texts: %v, %v", empty, err)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	e := open(t)
	ctx := context.Background()
	got, err := e.EncodeWith(ctx, texts, jina3.TextMatching, 0, &jina3.EncodeOptions{NoNormalize: true, MaxLength: 8, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	var norm float64
	for _, v := range got.Row(0) {
		norm += float64(v) * float64(v)
	}
	if math.Abs(math.Sqrt(norm)-1) < 1e-3 {
		t.Fatal("NoNormalize gave a unit row")
	}
	if !got.Truncated[0] || !got.Truncated[3] || got.Truncated[4] {
		t.Fatalf("MaxLength 8: truncated %v", got.Truncated)
	}
	// The zero value and nil are the defaults.
	a, _ := e.EncodeWith(ctx, texts, jina3.TextMatching, 0, &jina3.EncodeOptions{})
	b, _ := e.Encode(ctx, texts, jina3.TextMatching, 0)
	if d := maxDiff(t, a.Data, b.Data); d > tolerance {
		t.Fatalf("zero options differ from the defaults by %g", d)
	}
	// Load options reach the library: a bad one is its ErrInvalidArgument naming the field.
	_, err = jina3.Open(packageDir(t), jina3.WithThreads(-1))
	var jerr *jina3.Error
	if !errors.As(err, &jerr) || jerr.Status != jina3.ErrInvalidArgument || !strings.Contains(jerr.Message, "num_threads") {
		t.Fatalf("WithThreads(-1): %v", err)
	}
	cached := open(t, jina3.WithThreads(1), jina3.WithCacheBytes(1<<20), jina3.WithMaxBatchSize(4),
		jina3.WithBulkShare(0.5), jina3.WithMaxWait(time.Millisecond), jina3.WithVerifyChecksums(false))
	for i := 0; i < 2; i++ {
		if _, err := cached.Encode(ctx, texts, jina3.RetrievalQuery, 0); err != nil {
			t.Fatal(err)
		}
	}
	if s, _ := cached.Stats(); s.CacheHits < uint64(len(texts)) {
		t.Fatalf("WithCacheBytes was not applied: %d hits", s.CacheHits)
	}
}

func TestTasksAndTokenIDs(t *testing.T) {
	t.Parallel()
	e := open(t)
	ctx := context.Background()
	tasks := []jina3.Task{jina3.RetrievalQuery, jina3.RetrievalPassage, jina3.Separation, jina3.Classification, jina3.TextMatching, jina3.TaskNone}
	mixed, err := e.EncodeTasks(ctx, texts, tasks, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, task := range tasks {
		one, _ := e.Encode(ctx, texts[i:i+1], task, 0)
		if d := maxDiff(t, mixed.Row(i), one.Row(0)); d > 1e-5 {
			t.Fatalf("row %d (%v) differs by %g", i, task, d)
		}
	}
	if _, err := e.EncodeTasks(ctx, texts, tasks[:2], 0, nil); !errors.Is(err, jina3.ErrInvalidArgument) {
		t.Fatalf("2 tasks for 6 texts: %v", err)
	}
	tokens, err := e.EncodeTokens(texts[0], jina3.RetrievalPassage, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int32
	for i, off := range tokens.Offsets {
		if off[0] >= 0 {
			ids = append(ids, tokens.IDs[i])
		}
	}
	byIDs, err := e.EncodeIDs(ctx, [][]int32{ids}, jina3.RetrievalPassage, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	byText, _ := e.Encode(ctx, texts[:1], jina3.RetrievalPassage, 0)
	if d := maxDiff(t, byIDs.Data, byText.Data); d > 1e-5 {
		t.Fatalf("ids and text differ by %g", d)
	}
	_, err = e.EncodeIDs(ctx, [][]int32{{5, int32(e.VocabSize())}}, jina3.RetrievalPassage, 0, nil)
	if !errors.Is(err, jina3.ErrInvalidArgument) {
		t.Fatalf("an id out of the vocabulary: %v", err)
	}
}

func TestQuantizedEqualsTheCAPI(t *testing.T) {
	t.Parallel()
	e, ref := open(t), reference(t)
	dims := e.Dims()[0]
	floats, err := e.Encode(context.Background(), texts, jina3.RetrievalPassage, dims)
	if err != nil {
		t.Fatal(err)
	}
	ranges, err := jina3.CalibrationRanges(floats.Data, dims)
	if err != nil || len(ranges.Min) != dims {
		t.Fatalf("ranges: %v %v", ranges, err)
	}
	for d := 0; d < dims; d++ {
		lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
		for i := 0; i < floats.Rows; i++ {
			lo, hi = float32(math.Min(float64(lo), float64(floats.Row(i)[d]))), float32(math.Max(float64(hi), float64(floats.Row(i)[d])))
		}
		if ranges.Min[d] != lo || ranges.Max[d] != hi {
			t.Fatalf("dim %d: ranges [%g, %g], rows [%g, %g]", d, ranges.Min[d], ranges.Max[d], lo, hi)
		}
	}
	for _, p := range jina3.Precisions {
		got, err := e.EncodeQuantized(texts, jina3.RetrievalPassage, dims, p, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.EncodeQuantized(texts, int(jina3.RetrievalPassage), dims, dims, int(p))
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Data) != string(want) || got.RowBytes != p.RowBytes(dims) {
			t.Fatalf("precision %d differs from the C API", p)
		}
		again, err := jina3.Quantize(floats.Data, dims, p, nil)
		if err != nil || string(again.Data) != string(got.Data) {
			t.Fatalf("precision %d: Quantize differs (%v)", p, err)
		}
		withRanges, err := e.EncodeQuantized(texts, jina3.RetrievalPassage, dims, p, ranges, nil)
		if err != nil {
			t.Fatal(err)
		}
		if q, _ := jina3.Quantize(floats.Data, dims, p, ranges); string(q.Data) != string(withRanges.Data) {
			t.Fatalf("precision %d with ranges: Quantize differs", p)
		}
	}
	bits, _ := jina3.Quantize(floats.Data, dims, jina3.Ubinary, nil)
	if (bits.Row(0)[0]>>7 == 1) != (floats.Row(0)[0] > 0) {
		t.Fatal("bit 7 of byte 0 is not dim 0's sign")
	}
	if _, err := jina3.Quantize(floats.Data, dims, jina3.Int8, &jina3.Ranges{Min: []float32{0}, Max: []float32{1}}); !errors.Is(err, jina3.ErrInvalidArgument) {
		t.Fatalf("short ranges: %v", err)
	}
	if _, err := jina3.Quantize(floats.Data[1:], dims, jina3.Int8, nil); !errors.Is(err, jina3.ErrInvalidArgument) {
		t.Fatalf("partial rows: %v", err)
	}
	if _, err := jina3.CalibrationRanges(nil, 1<<40); !errors.Is(err, jina3.ErrInvalidArgument) {
		t.Fatalf("no rows, huge dims: %v", err)
	}
	if _, err := jina3.Quantize(make([]float32, 12), 12, jina3.Binary, nil); !errors.Is(err, jina3.ErrInvalidArgument) {
		t.Fatalf("binary with 12 dims: %v", err)
	}
}

func TestTokensAndLateChunkingEqualTheCAPI(t *testing.T) {
	t.Parallel()
	e, ref := open(t), reference(t)
	tokens, err := e.EncodeTokens(texts[3], jina3.RetrievalQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, emb, off, err := ref.Tokens(texts[3], int(jina3.RetrievalQuery))
	if err != nil {
		t.Fatal(err)
	}
	// Token states are not normalised: the tolerance is relative to their largest magnitude (two
	// passes may sum in another order when other encoders in this process change LibTorch's
	// process-wide thread count).
	scale := 1.0
	for _, v := range emb {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	if d := maxDiff(t, tokens.Embeddings, emb); fmt.Sprint(tokens.IDs) != fmt.Sprint(ids) || d > tolerance*scale || tokens.Hidden != e.HiddenSize() {
		t.Fatalf("tokens differ from the C API: states by %g (largest magnitude %g)", d, scale)
	}
	for i, o := range tokens.Offsets {
		if int64(o[0]) != off[2*i] || int64(o[1]) != off[2*i+1] {
			t.Fatalf("offset %d differs", i)
		}
	}
	if tokens.Offsets[0] != [2]int{-1, -1} {
		t.Fatalf("<s> has offsets %v", tokens.Offsets[0])
	}

	text := "Berlin is the capital of Germany. It has 3.8 million people. The Spree flows through it."
	chunks, err := e.LateChunk(text, jina3.RetrievalPassage, 0, &jina3.LateChunkOptions{Sentences: 1})
	if err != nil {
		t.Fatal(err)
	}
	wantEmb, wantSpans, err := ref.LateChunk(text, int(jina3.RetrievalPassage), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if chunks.Len() != 3 || maxDiff(t, chunks.Embeddings, wantEmb) > tolerance {
		t.Fatalf("%d chunks; differ from the C API", chunks.Len())
	}
	for i, s := range chunks.Spans {
		if uint64(s[0]) != wantSpans[2*i] || uint64(s[1]) != wantSpans[2*i+1] {
			t.Fatalf("span %d differs", i)
		}
	}
	if got := text[chunks.Spans[1][0]:chunks.Spans[1][1]]; got != "It has 3.8 million people." {
		t.Fatalf("chunk 1 is %q", got)
	}
	own, err := e.LateChunk(text, jina3.RetrievalPassage, e.Dims()[0], &jina3.LateChunkOptions{Spans: [][2]int{{0, 33}, {34, 60}}})
	if err != nil || own.Len() != 2 || own.Dims != e.Dims()[0] || own.Spans[1] != [2]int{34, 60} {
		t.Fatalf("own spans: %+v %v", own, err)
	}
	if _, err := e.LateChunk(text, jina3.RetrievalPassage, 0, &jina3.LateChunkOptions{Sentences: 1, ChunkTokens: 4}); !errors.Is(err, jina3.ErrInvalidArgument) {
		t.Fatalf("two ways of choosing chunks: %v", err)
	}
}

func TestSixteenGoroutinesShareOneEncoder(t *testing.T) {
	t.Parallel()
	e := open(t)
	ctx := context.Background()
	tasks := []jina3.Task{jina3.RetrievalQuery, jina3.RetrievalPassage, jina3.TextMatching}
	want := make([]*jina3.Embeddings, len(tasks))
	for i, task := range tasks {
		want[i], _ = e.Encode(ctx, texts, task, 0)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16*3)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			k := g % len(tasks)
			for round := 0; round < 3; round++ {
				var got *jina3.Embeddings
				var err error
				if (g+round)%2 == 0 {
					got, err = e.Encode(ctx, texts, tasks[k], 0)
				} else {
					var r *jina3.Request
					if r, err = e.Submit(texts, tasks[k:k+1], 0, nil); err == nil {
						got, err = r.Wait(ctx)
						r.Close()
					}
				}
				if err != nil {
					errs <- err
					return
				}
				if d := maxDiff(t, got.Data, want[k].Data); d > 1e-5 {
					errs <- fmt.Errorf("goroutine %d: %g from the single call", g, d)
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s, _ := e.Stats(); s.Requests < 16*3+3 {
		t.Fatalf("stats counted %d requests", s.Requests)
	}
}

func TestContextCancellationCancelsTheRequest(t *testing.T) {
	t.Parallel()
	e := open(t, jina3.WithThreads(1))
	busy := busyTexts()
	before, _ := e.Stats()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.EncodeWith(ctx, busy, jina3.RetrievalPassage, 0, &jina3.EncodeOptions{Priority: jina3.Bulk})
		done <- err
	}()
	// Cancelled once it is queued and running.
	for {
		if s, _ := e.Stats(); s.Passes > before.Passes {
			break
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Fatalf("cancellation took %v", elapsed)
	}
	after, _ := e.Stats()
	if after.Cancelled != before.Cancelled+1 || after.Lane(jina3.Bulk).CancelledRows == 0 {
		t.Fatalf("stats: cancelled %d -> %d, cancelled rows %d", before.Cancelled, after.Cancelled, after.Lane(jina3.Bulk).CancelledRows)
	}
	if after.Rows-before.Rows != uint64(len(busy)) || after.QueueDepth != 0 {
		t.Fatalf("the request is still queued: depth %d", after.QueueDepth)
	}
	// A context already done never submits; a deadline gives context.DeadlineExceeded.
	if _, err := e.Encode(ctx, texts, jina3.RetrievalQuery, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("done context: %v", err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if _, err := e.Encode(short, busy, jina3.RetrievalPassage, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
	// The encoder still serves.
	if got, err := e.Encode(context.Background(), texts, jina3.RetrievalQuery, 0); err != nil || got.Rows != len(texts) {
		t.Fatal(err)
	}
}

func TestRequestCancelAndClose(t *testing.T) {
	t.Parallel()
	e := open(t, jina3.WithThreads(1))
	busy := busyTexts()
	background, err := e.Submit(busy, []jina3.Task{jina3.RetrievalPassage}, 0, &jina3.EncodeOptions{Priority: jina3.Bulk})
	if err != nil {
		t.Fatal(err)
	}
	queued, err := e.Submit(busy[:64], []jina3.Task{jina3.RetrievalQuery}, 0, &jina3.EncodeOptions{Priority: jina3.Bulk})
	if err != nil {
		t.Fatal(err)
	}
	if !queued.Cancel() || queued.Cancel() {
		t.Fatal("Cancel of a queued request: want true, then false")
	}
	if _, err := queued.Wait(context.Background()); !errors.Is(err, jina3.ErrCancelled) {
		t.Fatalf("Wait after Cancel: %v", err)
	}
	queued.Close()
	queued.Close()
	// Closing the encoder fails what is still queued.
	e.Close()
	if _, err := background.Wait(context.Background()); !errors.Is(err, jina3.ErrCancelled) {
		t.Fatalf("Wait after Close: %v", err)
	}
	background.Close()
	if _, err := e.Encode(context.Background(), texts, jina3.RetrievalQuery, 0); !errors.Is(err, jina3.ErrClosed) {
		t.Fatalf("Encode after Close: %v", err)
	}
	if e.Close() != nil || e.HiddenSize() != 0 {
		t.Fatal("a second Close fails, or a closed encoder reports a size")
	}
}

func expect(t *testing.T, err error, status jina3.Status, needle string) {
	t.Helper()
	if !errors.Is(err, status) {
		t.Fatalf("want %s, got %v", status.Name(), err)
	}
	var jerr *jina3.Error
	if !errors.As(err, &jerr) || jerr.Status != status || !strings.Contains(jerr.Message, needle) {
		t.Fatalf("want a *jina3.Error %s mentioning %q, got %#v", status.Name(), needle, err)
	}
	for _, other := range []jina3.Status{jina3.ErrInvalidArgument, jina3.ErrCancelled} {
		if other != status && errors.Is(err, other) {
			t.Fatalf("%v is also %s", err, other.Name())
		}
	}
}

func copyPackage(t *testing.T) string {
	dir := t.TempDir()
	entries, err := os.ReadDir(packageDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range entries {
		if entry.Type().IsRegular() {
			data, err := os.ReadFile(filepath.Join(packageDir(t), entry.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, entry.Name()), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func TestEveryErrorKind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := open(t)
	t.Run("InvalidArgument", func(t *testing.T) {
		_, err := e.Encode(ctx, texts, jina3.RetrievalQuery, 7)
		expect(t, err, jina3.ErrInvalidArgument, "7")
		_, err = e.Encode(ctx, texts, jina3.RetrievalQuery, 1<<40)
		expect(t, err, jina3.ErrInvalidArgument, "")
		_, err = e.Encode(ctx, texts, jina3.Task(42), 0)
		expect(t, err, jina3.ErrInvalidArgument, "42")
		_, err = e.EncodeWith(ctx, texts, jina3.RetrievalQuery, 0, &jina3.EncodeOptions{MaxLength: -3})
		expect(t, err, jina3.ErrInvalidArgument, "max_length")
		_, err = e.Encode(ctx, []string{"\xff\xfe"}, jina3.RetrievalQuery, 0)
		expect(t, err, jina3.ErrInvalidArgument, "UTF-8")
		if !strings.Contains(err.Error(), "invalid_argument") {
			t.Fatalf("Error() = %q", err.Error())
		}
	})
	t.Run("InputTooLong", func(t *testing.T) {
		// 40 words over a 16-token limit (the package's own limit is 8194 tokens: slow to reach).
		long := strings.Repeat("word ", 40)
		_, err := e.EncodeWith(ctx, []string{"short", long}, jina3.RetrievalPassage, 0, &jina3.EncodeOptions{NoTruncate: true, MaxLength: 16})
		expect(t, err, jina3.ErrInputTooLong, "")
		got, err := e.EncodeWith(ctx, []string{"short", long}, jina3.RetrievalPassage, 0, &jina3.EncodeOptions{MaxLength: 16})
		if err != nil || !got.Truncated[1] || got.Truncated[0] {
			t.Fatalf("truncation on: %v %v", got.Truncated, err)
		}
	})
	t.Run("ModelNotFound", func(t *testing.T) {
		_, err := jina3.Open(filepath.Join(t.TempDir(), "no-such-package"))
		expect(t, err, jina3.ErrModelNotFound, "no-such-package")
	})
	t.Run("ModelInvalid", func(t *testing.T) {
		dir := copyPackage(t)
		os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"format": "jina3.package", `), 0o644)
		_, err := jina3.Open(dir)
		expect(t, err, jina3.ErrModelInvalid, "manifest.json")
	})
	t.Run("VersionMismatch", func(t *testing.T) {
		dir := copyPackage(t)
		manifest, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
		re := regexp.MustCompile(`"format_version":\s*(\d+)`)
		m := re.FindSubmatch(manifest)
		if m == nil {
			t.Fatal("the manifest has no format_version")
		}
		v, _ := strconv.Atoi(string(m[1]))
		bumped := re.ReplaceAll(manifest, []byte(fmt.Sprintf(`"format_version": %d`, v+1)))
		os.WriteFile(filepath.Join(dir, "manifest.json"), bumped, 0o644)
		_, err := jina3.Open(dir)
		expect(t, err, jina3.ErrVersionMismatch, "")
	})
	t.Run("Device", func(t *testing.T) {
		_, err := jina3.Open(packageDir(t), jina3.WithDevice(jina3.CUDA, 99)) // no machine has a hundred GPUs
		expect(t, err, jina3.ErrDevice, "")
	})
	t.Run("QueueFull", func(t *testing.T) {
		small, _ := busy(t, jina3.WithMaxQueuedRequests(1))
		_, err := small.EncodeWith(ctx, texts, jina3.RetrievalQuery, 0, &jina3.EncodeOptions{FailWhenFull: true})
		expect(t, err, jina3.ErrQueueFull, "")
		if s, _ := small.Stats(); s.Rejected != 1 {
			t.Fatalf("rejected %d", s.Rejected)
		}
	})
	t.Run("DeadlineExceeded", func(t *testing.T) {
		slow, _ := busy(t)
		_, err := slow.EncodeWith(ctx, texts, jina3.RetrievalQuery, 0, &jina3.EncodeOptions{Deadline: time.Microsecond})
		expect(t, err, jina3.ErrDeadlineExceeded, "")
	})
	t.Run("Cancelled", func(t *testing.T) {
		_, r := busy(t)
		r.Cancel()
		_, err := r.Wait(ctx)
		expect(t, err, jina3.ErrCancelled, "")
	})
	t.Run("StatusNames", func(t *testing.T) {
		// Every status, also those no input provokes (BufferTooSmall: this package sizes its
		// buffers; OutOfMemory, Internal), has the library's name and is its own sentinel.
		names := map[jina3.Status]string{
			jina3.ErrInvalidArgument: "invalid_argument", jina3.ErrInputTooLong: "input_too_long",
			jina3.ErrModelNotFound: "model_not_found", jina3.ErrModelInvalid: "model_invalid",
			jina3.ErrVersionMismatch: "version_mismatch", jina3.ErrDevice: "device",
			jina3.ErrBufferTooSmall: "buffer_too_small", jina3.ErrOutOfMemory: "out_of_memory",
			jina3.ErrInternal: "internal", jina3.ErrQueueFull: "queue_full",
			jina3.ErrDeadlineExceeded: "deadline_exceeded", jina3.ErrCancelled: "cancelled",
		}
		for status, name := range names {
			if status.Name() != name {
				t.Errorf("status %d is %q, want %q", int(status), status.Name(), name)
			}
			var err error = &jina3.Error{Status: status, Message: "m"}
			if !errors.Is(err, status) || errors.Is(err, jina3.Status(int(status)%12+1)) {
				t.Errorf("errors.Is on %s", name)
			}
		}
	})
}

func TestStatsAndMetadata(t *testing.T) {
	t.Parallel()
	e := open(t)
	ctx := context.Background()
	before, _ := e.Stats()
	e.Encode(ctx, texts, jina3.RetrievalQuery, 0)
	e.EncodeWith(ctx, texts[:2], jina3.RetrievalQuery, 0, &jina3.EncodeOptions{Priority: jina3.Bulk})
	after, err := e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if after.Requests-before.Requests != 2 || after.Rows-before.Rows != uint64(len(texts)+2) || after.Passes <= before.Passes {
		t.Fatalf("stats: %+v -> %+v", before, after)
	}
	in, bulk := after.Lane(jina3.Interactive), after.Lane(jina3.Bulk)
	if in.Rows+bulk.Rows != after.Rows || bulk.Rows-before.Lane(jina3.Bulk).Rows != 2 || in.LatencyUs.Count == 0 {
		t.Fatalf("lanes: %+v %+v", in, bulk)
	}
	var sum uint64
	for _, b := range in.RowsPerPass.Buckets {
		sum += b
	}
	if sum != in.RowsPerPass.Count {
		t.Fatalf("rows per pass: buckets sum %d, count %d", sum, in.RowsPerPass.Count)
	}

	for _, task := range []jina3.Task{jina3.TaskNone, jina3.RetrievalQuery, jina3.RetrievalPassage, jina3.Separation, jina3.Classification, jina3.TextMatching} {
		if parsed, err := jina3.ParseTask(task.String()); err != nil || parsed != task {
			t.Fatalf("%v: %v %v", task, parsed, err)
		}
	}
	if _, err := jina3.ParseTask("retrieval.queries"); !errors.Is(err, jina3.ErrInvalidArgument) || !strings.Contains(err.Error(), "retrieval.query") {
		t.Fatalf("unknown task: %v", err)
	}
	if p, err := jina3.ParsePriority("bulk"); err != nil || p != jina3.Bulk || jina3.Bulk.String() != "bulk" {
		t.Fatal("priority names")
	}
	if d, i, err := jina3.ParseDevice("cuda:3"); err != nil || d != jina3.CUDA || i != 3 {
		t.Fatal("device names")
	}
	if d, err := jina3.ParseDType("bfloat16"); err != nil || d != jina3.DTypeBFloat16 || d.String() != "bfloat16" {
		t.Fatal("dtype names")
	}
	if jina3.Float16.RowBytes(64) != 128 || jina3.Binary.RowBytes(64) != 8 {
		t.Fatal("row bytes")
	}
	if e.Device() != jina3.CPU || e.DType() != jina3.DTypeFloat32 || e.Dims()[len(e.Dims())-1] != e.HiddenSize() ||
		e.PackagePath() != packageDir(t) || e.VocabSize() < 1000 {
		t.Fatal("metadata")
	}
	if p, err := e.Prompt(jina3.RetrievalQuery); err != nil || p == "" {
		t.Fatalf("prompt: %q %v", p, err)
	}
	if k, err := e.Kernels(); err != nil || len(k) != 7 || k["device"] != "cpu" || k["compute_dtype"] != "float32" ||
		k["isa"] == "" || (k["bf16"] != "native" && k["bf16"] != "emulated") || k["notice"] != "" {
		t.Fatalf("kernels: %v %v", k, err)
	}
	if jina3.ABIVersion() != 1 || len(strings.Split(jina3.Version(), ".")) != 3 {
		t.Fatal("versions")
	}
}

func TestCloseWhileGoroutinesEncode(t *testing.T) {
	t.Parallel()
	e := open(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	started := make(chan struct{}, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				_, err := e.Encode(ctx, texts, jina3.RetrievalQuery, 0)
				if i == 0 {
					started <- struct{}{}
				}
				if errors.Is(err, jina3.ErrClosed) {
					return // the end this test waits for
				}
				if err != nil && !errors.Is(err, jina3.ErrCancelled) {
					errs <- err
					return
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-started
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a goroutine got %v (want results, ErrCancelled or ErrClosed)", err)
	}
	if _, err := e.Stats(); !errors.Is(err, jina3.ErrClosed) {
		t.Fatalf("Stats after Close: %v", err)
	}
}
