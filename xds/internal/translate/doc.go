// Package translate turns Envoy v3 resources (listeners, route
// configurations, clusters, cluster load assignments) into meshd's one
// config model, conf.Config. Each resource is translated on its own when it
// arrives, so a bad one is NACKed by name; Assemble then joins the
// translated pieces into a whole config once every reference resolves.
//
// Every set field of every Envoy message is checked against one table
// (Rules): a field is used, ignored with a warning, or rejected. A field
// the table does not know is rejected, because meshd cannot tell whether
// ignoring it is safe.
package translate
