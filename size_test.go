package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Size limits of production code, checked with
// go/ast on every non-test Go file of this module:
//
//   - no function longer than maxFuncLines, not counting the lines of the
//     declarative tables inside it (composite literals of tableLines lines
//     or more: a flag table is data, not logic);
//   - no file longer than maxFileLines unless its package's DESIGN.md
//     names it (with the reason);
//   - no type in raftfsm with more than maxMethods methods.
const (
	maxFuncLines = 80
	tableLines   = 5
	maxFileLines = 500
	maxMethods   = 25
)

// productionFiles lists the module's non-test Go files: not the compat
// module, not scripts/ (tools beside the server, never imported by it),
// not testdata.
func productionFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == "compat" || path == "scripts" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// funcLines is a function's length in lines less the lines of the tables
// (large composite literals) in it.
func funcLines(fset *token.FileSet, fn *ast.FuncDecl) int {
	start, end := fset.Position(fn.Pos()).Line, fset.Position(fn.End()).Line
	table := map[int]bool{}
	ast.Inspect(fn, func(n ast.Node) bool {
		cl, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		from, to := fset.Position(cl.Pos()).Line, fset.Position(cl.End()).Line
		if to-from+1 < tableLines {
			return true
		}
		for l := from + 1; l < to; l++ { // the opening and closing lines stay code
			table[l] = true
		}
		return false
	})
	return end - start + 1 - len(table)
}

func TestProductionCodeSizes(t *testing.T) {
	fset := token.NewFileSet()
	methods := map[string]int{} // raftfsm type → methods
	design := map[string]string{}
	for _, path := range productionFiles(t) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(src, []byte("\n")); n > maxFileLines {
			dir := filepath.Dir(path)
			if _, ok := design[dir]; !ok {
				b, _ := os.ReadFile(filepath.Join(dir, "DESIGN.md"))
				design[dir] = string(b)
			}
			if !strings.Contains(design[dir], "`"+filepath.Base(path)+"`") {
				t.Errorf("%s has %d lines (over %d) and %s does not say why (name it in backquotes)", path, n, maxFileLines, filepath.Join(dir, "DESIGN.md"))
			}
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			if n := funcLines(fset, fn); n > maxFuncLines {
				t.Errorf("%s: %s has %d lines of code (over %d)", fset.Position(fn.Pos()), fn.Name.Name, n, maxFuncLines)
			}
			if filepath.Dir(path) == "raftfsm" && fn.Recv != nil {
				methods[receiverType(fn)]++
			}
		}
	}
	var report []string
	for typ, n := range methods {
		if n > maxMethods {
			t.Errorf("raftfsm.%s has %d methods (over %d)", typ, n, maxMethods)
		}
		report = append(report, fmt.Sprintf("%s %d", typ, n))
	}
	sort.Strings(report)
	t.Logf("raftfsm methods per type: %s", strings.Join(report, ", "))
}

// receiverType names a method's receiver type.
func receiverType(fn *ast.FuncDecl) string {
	x := fn.Recv.List[0].Type
	if s, ok := x.(*ast.StarExpr); ok {
		x = s.X
	}
	if id, ok := x.(*ast.Ident); ok {
		return id.Name
	}
	return fmt.Sprintf("%T", x)
}
