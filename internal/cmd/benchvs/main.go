// Command benchvs times vlm's blocks against the same work in PyTorch 1.13,
// side by side on one machine: for every block and thread count it
// alternates a round of Go calls and a round of PyTorch calls several
// times, then prints the medians and their ratio as a Markdown table.
//
// Run it from the repository root:
//
//	go run ./internal/cmd/benchvs                      # every block, 1 and 2 threads, 5 rounds
//	go run ./internal/cmd/benchvs -blocks 'gemm|vit' -threads 1 -rounds 3
//
// PyTorch runs in testdata/gen/bench_torch.py, one server process per
// thread count, with torch.set_num_threads(1) and OPENBLAS_NUM_THREADS set
// to the thread count (PyTorch's own threads fight its BLAS threads on two
// cores), and with LD_LIBRARY_PATH pointing at OpenBLAS
// (/usr/lib/x86_64-linux-gnu/openblas-pthread, Debian package
// libopenblas0-pthread), so that Debian's python3-torch does not use
// whatever libblas.so.3 the system alternative selects. OPENBLAS_CORETYPE
// is passed through as the environment sets it. Go runs in this process
// with GOMAXPROCS set to the thread count.
//
// Ratio is Go's time over PyTorch's: above 1, Go is slower.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/govlm/vlm/internal/kernels"
)

func main() {
	rounds := flag.Int("rounds", 5, "alternating rounds per block and thread count")
	threadList := flag.String("threads", "1,2", "comma-separated thread counts")
	only := flag.String("blocks", "", "regular expression selecting blocks by name (default all)")
	python := flag.String("python", "/usr/bin/python3", "Python with Debian's python3-torch")
	script := flag.String("script", "testdata/gen/bench_torch.py", "the PyTorch side")
	openblas := flag.String("openblas", "/usr/lib/x86_64-linux-gnu/openblas-pthread", "directory holding OpenBLAS's libblas.so.3, or \"\" for the system BLAS")
	noTorch := flag.Bool("go-only", false, "time Go only")
	settle := flag.Duration("settle", 300*time.Millisecond, "pause between the Go and the PyTorch rounds, longer than an idle OpenBLAS thread spins")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("benchvs: ")

	threads, err := parseThreads(*threadList)
	if err != nil {
		log.Fatal(err)
	}
	re, err := regexp.Compile(*only)
	if err != nil {
		log.Fatal(err)
	}
	var sel []block
	for _, b := range blocks() {
		if re.MatchString(b.name) {
			sel = append(sel, b)
		}
	}
	if len(sel) == 0 {
		log.Fatalf("no block matches %q", *only)
	}

	torch := map[int]*server{}
	if !*noTorch {
		if *openblas != "" {
			if _, err := os.Stat(filepath.Join(*openblas, "libblas.so.3")); err != nil {
				log.Fatalf("OpenBLAS not found (%v): install it with apt-get install libopenblas0-pthread, or pass -openblas \"\" for the system BLAS", err)
			}
		}
		for _, t := range threads {
			s, err := startServer(*python, *script, *openblas, t)
			if err != nil {
				log.Fatal(err)
			}
			defer s.close()
			torch[t] = s
		}
	}

	fmt.Printf("CPU: %s, %d logical CPUs; Go %s, GEMM %s\n", cpuModel(), runtime.NumCPU(), runtime.Version(), kernels.GEMM())
	if s := torch[threads[0]]; s != nil {
		fmt.Printf("PyTorch %s, BLAS %s, OPENBLAS_CORETYPE=%s\n", s.hello.Torch, s.hello.BLAS, os.Getenv("OPENBLAS_CORETYPE"))
	}
	fmt.Printf("load average at start: %s\n", loadAvg())
	fmt.Printf("%d rounds, median ms of all timed calls; ratio = Go / PyTorch (> 1: Go is slower)\n\n", *rounds)
	fmt.Println("| block | threads | Go ms | PyTorch ms | ratio | Go GFLOP/s | Go allocs/op |")
	fmt.Println("|---|---|---|---|---|---|---|")
	procs := runtime.GOMAXPROCS(0)
	for _, b := range sel {
		for _, t := range threads {
			run, err := b.setup()
			if err != nil {
				log.Fatalf("%s: %v", b.name, err)
			}
			var goMS, pyMS []float64
			var allocs float64
			for range *rounds {
				runtime.GOMAXPROCS(t)
				ms, a, err := timeGo(run, b.iters)
				runtime.GOMAXPROCS(procs)
				if err != nil {
					log.Fatalf("%s: %v", b.name, err)
				}
				goMS, allocs = append(goMS, ms...), a
				if s := torch[t]; s != nil {
					// Let the other side's idle threads go to sleep first:
					// OpenBLAS's poll for up to 2^28 TSC ticks by default
					// (THREAD_TIMEOUT; about 128 ms at a 2.1 GHz TSC).
					time.Sleep(*settle)
					ms, err := s.time(b.name, b.iters)
					if err != nil {
						log.Fatalf("PyTorch %s: %v", b.name, err)
					}
					pyMS = append(pyMS, ms...)
					time.Sleep(*settle)
				}
			}
			g := median(goMS)
			row := fmt.Sprintf("| %s | %d | %.2f | ", b.name, t, g)
			if len(pyMS) > 0 {
				p := median(pyMS)
				row += fmt.Sprintf("%.2f | %.2f | ", p, g/p)
			} else {
				row += "- | - | "
			}
			row += fmt.Sprintf("%.1f | %.0f |", b.flops/g/1e6, allocs)
			fmt.Println(row)
		}
	}
	fmt.Printf("\nload average at end: %s\n", loadAvg())
}

func parseThreads(s string) ([]int, error) {
	var ts []int
	for f := range strings.SplitSeq(s, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || t < 1 {
			return nil, fmt.Errorf("bad thread count %q in -threads", f)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// timeGo makes one untimed call, then iters timed calls; it returns their
// durations in ms and the heap allocations per call.
func timeGo(run func() error, iters int) ([]float64, float64, error) {
	if err := run(); err != nil {
		return nil, 0, err
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ms := make([]float64, iters)
	for i := range ms {
		t0 := time.Now()
		if err := run(); err != nil {
			return nil, 0, err
		}
		ms[i] = float64(time.Since(t0).Nanoseconds()) / 1e6
	}
	runtime.ReadMemStats(&after)
	return ms, float64(after.Mallocs-before.Mallocs) / float64(iters), nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// server is a running bench_torch.py serve process.
type server struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	hello struct {
		Torch string `json:"torch"`
		BLAS  string `json:"blas"`
	}
}

func startServer(python, script, openblas string, threads int) (*server, error) {
	cmd := exec.Command(python, script, "serve")
	env := os.Environ()
	env = append(env, "OPENBLAS_NUM_THREADS="+strconv.Itoa(threads), "OMP_NUM_THREADS=1")
	if openblas != "" {
		lp := openblas
		if old := os.Getenv("LD_LIBRARY_PATH"); old != "" {
			lp += ":" + old
		}
		env = append(env, "LD_LIBRARY_PATH="+lp)
	}
	cmd.Env = env
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s %s: %w", python, script, err)
	}
	s := &server{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	s.out.Buffer(nil, 1<<20)
	if err := s.read(&s.hello); err != nil {
		return nil, fmt.Errorf("%s %s: %w", python, script, err)
	}
	if openblas != "" && !strings.Contains(s.hello.BLAS, "openblas") {
		return nil, fmt.Errorf("PyTorch loaded %s, not OpenBLAS", s.hello.BLAS)
	}
	return s, nil
}

func (s *server) read(v any) error {
	if !s.out.Scan() {
		if err := s.out.Err(); err != nil {
			return err
		}
		return errors.New("PyTorch process ended")
	}
	return json.Unmarshal(s.out.Bytes(), v)
}

// time runs a block iters times (after one untimed call) and returns the
// times in ms.
func (s *server) time(name string, iters int) ([]float64, error) {
	req, err := json.Marshal(map[string]any{"block": name, "iters": iters})
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(s.in, "%s\n", req); err != nil {
		return nil, err
	}
	var resp struct {
		MS    []float64 `json:"ms"`
		Error string    `json:"error"`
	}
	if err := s.read(&resp); err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return nil, errors.New(resp.Error)
	}
	return resp.MS, nil
}

func (s *server) close() {
	s.in.Close()
	s.cmd.Wait()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
