package runbook

import "strings"

// SourceDoc is a document runbooks cite, as a reader of a report knows it.
type SourceDoc struct {
	// File is the name runbooks give in source.doc.
	File string `json:"file"`
	// Title is the document's own title (its first heading).
	Title string `json:"title"`
	// Publisher is who published it and for which product.
	Publisher string `json:"publisher"`
}

// sourceDocs returns the documents the shipped runbooks cite. The seed
// documents are kept as files named by a hash; a report names them by the
// title each one opens with (its first heading, after the IBM pages'
// "Search Tips | Advanced Search" banner) so that a reader can find the
// page. TestSourceDocsCoverShippedRunbooks keeps this table complete.
func sourceDocs() []SourceDoc {
	return []SourceDoc{
		// 000_...: opens with "Service integration backup".
		{File: "000_2ba05a62665e9332.txt", Title: "Service integration backup", Publisher: "IBM WebSphere Application Server documentation"},
		// 001_...: opens with "Backup and restore"; the page is about IBM IoT MessageSight.
		{File: "001_5997eca29ae96eef.txt", Title: "Backup and restore", Publisher: "IBM IoT MessageSight documentation"},
		// 002_...: opens with "Restoring a data store and recovering its messaging engine".
		{File: "002_51495a1c0c345fc4.txt", Title: "Restoring a data store and recovering its messaging engine", Publisher: "IBM WebSphere Application Server documentation"},
		// 003_...: opens with "Configuration for high availability".
		{File: "003_8dca7227ba4b51dc.txt", Title: "Configuration for high availability", Publisher: "IBM WebSphere Application Server documentation"},
		// 004_...: opens with a banner about OroCommerce 6.1, then "Backup and Restore".
		{File: "004_5fcabc3eaaf69c51.txt", Title: "Backup and Restore (message queue)", Publisher: "OroCommerce documentation, RabbitMQ"},
		// The reference notes the runbooks cite where the seeds are wrong
		// or silent.
		{File: "reference/was-sib.md", Title: "WebSphere SIB messaging engine backup, restore and HA: technical reference", Publisher: "drillbook reference notes"},
		{File: "reference/messagesight.md", Title: "MessageSight REST admin API: backup, restore, clean store, maintenance, HA", Publisher: "drillbook reference notes"},
		{File: "reference/rabbitmq.md", Title: "RabbitMQ backup and restore drill, measured on a real broker", Publisher: "drillbook reference notes"},
	}
}

// LookupSourceDoc returns the document a source.doc names, if drillbook
// knows it.
func LookupSourceDoc(file string) (SourceDoc, bool) {
	for _, d := range sourceDocs() {
		if d.File == file {
			return d, true
		}
	}
	return SourceDoc{}, false
}

// Cite renders a source for a report: the document by its title and
// publisher (with the file name runbooks use, to look it up), its section,
// and the reference that corrects it. An unknown document is shown as its
// runbook names it.
func (s Source) Cite() string {
	out := s.Doc
	if d, ok := LookupSourceDoc(s.Doc); ok {
		out = "“" + d.Title + "” (" + d.Publisher + "; " + d.File + ")"
	}
	if s.Section != "" {
		if strings.HasPrefix(s.Section, "§") {
			out += " " + s.Section
		} else {
			out += " § " + s.Section
		}
	}
	if s.Ref != "" {
		ref := s.Ref
		for _, d := range sourceDocs() {
			if strings.HasPrefix(ref, d.File) && strings.HasPrefix(d.File, "reference/") {
				ref = d.File + " (" + d.Title + ")" + strings.TrimPrefix(ref, d.File)
				break
			}
		}
		out += "; see " + ref
	}
	return out
}
