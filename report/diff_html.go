package report

import (
	"embed"
	"html/template"
	"io"

	"github.com/netsift/netsift/analyze/diff"
)

// The comparison page follows the diagnosis page's rules (html.go): one offline file, every
// bundle value escaped by html/template, and only our own inline style, allowed by hash. It has
// no script.

//go:embed templates/diff.html.tmpl templates/diff.css
var diffHTMLFiles embed.FS

var (
	diffCSS      = mustReadDiff("templates/diff.css")
	diffStyle    = template.HTML("<style>" + diffCSS + "</style>")
	diffCSP      = "default-src 'none'; style-src '" + cspHash(htmlCSS) + "' '" + cspHash(diffCSS) + "'; img-src data:; base-uri 'none'; form-action 'none'"
	diffCSPMeta  = template.HTML(`<meta http-equiv="Content-Security-Policy" content="` + attrEscaper.Replace(diffCSP) + `">`)
	diffHTMLPage = template.Must(template.New("diff").Funcs(template.FuncMap{
		"opMark": func(op diff.Op) string { return opMarks[op] },
	}).ParseFS(diffHTMLFiles, "templates/diff.html.tmpl"))
)

func mustReadDiff(name string) string {
	b, err := diffHTMLFiles.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

type diffHTMLView struct {
	CSP, Style, DiffStyle template.HTML
	Tone                  string
	V                     *diffView
}

// DiffHTML writes the comparison as one self-contained page in the diagnosis page's style.
func DiffHTML(w io.Writer, d *diff.Diff) error {
	v := buildDiffView(d)
	tone := "ok"
	switch {
	case len(d.Findings.New) > 0:
		tone = "critical"
	case v.Changed:
		tone = "warning"
	}
	return diffHTMLPage.ExecuteTemplate(w, "diff.html.tmpl", diffHTMLView{CSP: diffCSPMeta, Style: htmlStyle, DiffStyle: diffStyle, Tone: tone, V: v})
}
