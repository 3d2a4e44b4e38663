// jina3 from Go through the jina3 module (../../go, by a replace directive in go.mod): embed a
// query and some passages, rank the passages by cosine similarity, then serve the same texts to
// many goroutines at once.
//
//	PKG_CONFIG_PATH=<prefix>/lib/pkgconfig go run . PACKAGE_DIR [QUERY PASSAGE...]
//
// Output: the ranking ("rank R: SCORE passage[I] TEXT"), then every embedding on one line
// ("vector query 0 v1 v2 ..." / "vector passage I v1 v2 ..."), then one line on the concurrent
// requests ("concurrent: N requests from G goroutines, max |diff| D to the synchronous results").
//
// Concurrency: goroutines share one *jina3.Encoder and call Encode at the same time; the
// encoder's scheduler merges their texts into shared forward passes.
package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"jina3"
)

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func maxDiff(a, b []float32) float64 {
	worst := 0.0
	for i := range a {
		worst = math.Max(worst, math.Abs(float64(a[i])-float64(b[i])))
	}
	return worst
}

// concurrent has goroutines encode the query or the passages at the same time and compares what
// they get with the synchronous results.
func concurrent(ctx context.Context, encoder *jina3.Encoder, query string, passages []string, q, p *jina3.Embeddings) error {
	const goroutines = 8
	diffs := make([]float64, goroutines)
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			texts, task, want := []string{query}, jina3.RetrievalQuery, q
			if g%2 == 1 {
				texts, task, want = passages, jina3.RetrievalPassage, p
			}
			got, err := encoder.Encode(ctx, texts, task, 0)
			if err != nil {
				errs[g] = err
				return
			}
			diffs[g] = maxDiff(got.Data, want.Data)
		}(g)
	}
	wg.Wait()
	worst := 0.0
	for g := range diffs {
		if errs[g] != nil {
			return errs[g]
		}
		worst = math.Max(worst, diffs[g])
	}
	fmt.Printf("concurrent: %d requests from %d goroutines, max |diff| %g to the synchronous results\n",
		goroutines, goroutines, worst)
	if worst > 1e-6 {
		return fmt.Errorf("concurrent results differ from the synchronous ones by %g", worst)
	}
	return nil
}

func printVector(kind string, index int, values []float32) {
	numbers := make([]string, len(values))
	for i, v := range values {
		// Shortest text that reads back as the same float32.
		numbers[i] = strconv.FormatFloat(float64(v), 'g', -1, 32)
	}
	fmt.Printf("vector %s %d %s\n", kind, index, strings.Join(numbers, " "))
}

func run(args []string) error {
	query := "What is the capital of France?"
	passages := []string{
		"Paris is the capital and largest city of France.",
		"Berlin is the capital of Germany.",
		"The Eiffel Tower was completed in 1889.",
	}
	if len(args) > 3 {
		query, passages = args[2], args[3:]
	}

	encoder, err := jina3.Open(args[1])
	if err != nil {
		return err
	}
	defer encoder.Close()
	ctx := context.Background()
	// Queries and passages use different adapters: that is what makes asymmetric retrieval work.
	q, err := encoder.Encode(ctx, []string{query}, jina3.RetrievalQuery, 0)
	if err != nil {
		return err
	}
	p, err := encoder.Encode(ctx, passages, jina3.RetrievalPassage, 0)
	if err != nil {
		return err
	}

	scores := make([]float64, p.Rows)
	order := make([]int, p.Rows)
	for i := range scores {
		scores[i] = cosine(q.Row(0), p.Row(i))
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return scores[order[a]] > scores[order[b]] })

	fmt.Printf("query: %s\n", query)
	for rank, i := range order {
		fmt.Printf("rank %d: %.6f passage[%d] %s\n", rank+1, scores[i], i, passages[i])
	}
	printVector("query", 0, q.Row(0))
	for i := 0; i < p.Rows; i++ {
		printVector("passage", i, p.Row(i))
	}
	return concurrent(ctx, encoder, query, passages, q, p)
}

func main() {
	if len(os.Args) < 2 || len(os.Args) == 3 {
		fmt.Fprintf(os.Stderr, "usage: %s PACKAGE_DIR [QUERY PASSAGE...]\n", os.Args[0])
		os.Exit(2)
	}
	if err := run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err) // "jina3: <message> (<status>)"
		os.Exit(1)
	}
}
