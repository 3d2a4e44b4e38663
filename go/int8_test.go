package jina3_test

// An int8 package through the Go module (issue #19): package-int8, the sibling of the float32
// test package, loads, reports DTypeInt8, and its rows are within cosine 0.99 of the float32
// package's for every task and two Matryoshka sizes, nearer their own text's float32 row than any
// other text's, and not float32's rows.

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"jina3"
)

// int8PackageDir is package-int8 beside the float32 test package (make_test_data writes both).
func int8PackageDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(filepath.Clean(packageDir(t))), "package-int8")
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatalf("no int8 test package at %s (run ctest -R make_test_data)", dir)
	}
	return dir
}

func openInt8(t testing.TB) *jina3.Encoder {
	t.Helper()
	e, err := jina3.Open(int8PackageDir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func int8Cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func TestInt8PackageReportsInt8(t *testing.T) {
	t.Parallel()
	q, f := openInt8(t), open(t)
	if q.DType() != jina3.DTypeInt8 || q.DType().String() != "int8" {
		t.Fatalf("int8 package: dtype %v (%d)", q.DType(), int(q.DType()))
	}
	if f.DType() != jina3.DTypeFloat32 {
		t.Fatalf("float32 package: dtype %v", f.DType())
	}
	if q.Device() != jina3.CPU || !reflect.DeepEqual(q.Dims(), f.Dims()) || !reflect.DeepEqual(q.Tasks(), f.Tasks()) ||
		q.HiddenSize() != f.HiddenSize() || q.MaxLength() != f.MaxLength() || q.PackagePath() != int8PackageDir(t) {
		t.Fatalf("int8 package: device %v dims %v tasks %v hidden %d max_length %d path %s; float32: dims %v tasks %v hidden %d max_length %d",
			q.Device(), q.Dims(), q.Tasks(), q.HiddenSize(), q.MaxLength(), q.PackagePath(), f.Dims(), f.Tasks(), f.HiddenSize(), f.MaxLength())
	}
}

func TestInt8RowsAreWithinCosine099OfFloat32(t *testing.T) {
	t.Parallel()
	q, f := openInt8(t), open(t)
	ctx := context.Background()
	tasks := f.Tasks()
	if len(tasks) < 5 {
		t.Fatalf("the test package has every adapter: %v", tasks)
	}
	small := f.Dims()[1] // 16 of 8/16/32/64: a real Matryoshka cut
	minCosine, minMargin := 1.0, 1.0
	for _, task := range append(tasks, jina3.TaskNone) {
		for _, dims := range []int{0, small} {
			got, err := q.Encode(ctx, texts, task, dims)
			if err != nil {
				t.Fatal(err)
			}
			want, err := f.Encode(ctx, texts, task, dims)
			if err != nil {
				t.Fatal(err)
			}
			width := dims
			if dims == 0 {
				width = f.HiddenSize()
			}
			if got.Rows != len(texts) || got.Dims != width || want.Rows != got.Rows || want.Dims != got.Dims {
				t.Fatalf("%v dims %d: shapes %dx%d and %dx%d", task, dims, got.Rows, got.Dims, want.Rows, want.Dims)
			}
			for i := 0; i < got.Rows; i++ {
				own := int8Cosine(got.Row(i), want.Row(i))
				if own < 0.99 {
					t.Errorf("%v dims %d row %d (%q): cosine %.6f", task, dims, i, texts[i], own)
				}
				minCosine = math.Min(minCosine, own)
				// The tiny random model's rows are close to each other (up to ~0.993): the int8 row
				// must still be nearest its own text's float32 row.
				for j := 0; j < want.Rows; j++ {
					if j == i {
						continue
					}
					other := int8Cosine(got.Row(i), want.Row(j))
					if own <= other {
						t.Errorf("%v dims %d row %d: cosine %.6f to its own row, %.6f to row %d", task, dims, i, own, other, j)
					}
					minMargin = math.Min(minMargin, own-other)
				}
			}
			if d := maxDiff(t, got.Data, want.Data); d <= 1e-4 {
				t.Errorf("%v dims %d: int8 rows equal float32's (max |diff| %g)", task, dims, d)
			}
		}
	}
	t.Logf("go int8 vs float32: min cosine %.6f, min margin over other texts %.4f", minCosine, minMargin)
}
