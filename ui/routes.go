package ui

import "net/http"

// Register adds the web UI's routes to mux. Every route requires a login
// except the login page and the static files, and every route is wrapped
// in cross-origin protection, so a form posted from another site is
// refused. (Ingest at /api/{id}/envelope/ is cross-site by design and is
// not registered here.)
func (u *UI) Register(mux *http.ServeMux) {
	open := func(pattern string, h handlerFunc) {
		mux.Handle(pattern, u.cop.Handler(u.wrap(h)))
	}
	auth := func(pattern string, h handlerFunc) {
		mux.Handle(pattern, u.cop.Handler(u.requireLogin(u.wrap(h))))
	}
	admin := func(pattern string, h handlerFunc) { auth(pattern, requireAdmin(h)) }

	open("GET /static/{file}", u.handleStatic)
	open("GET /accounts/login/{$}", u.handleLoginForm)
	open("POST /accounts/login/{$}", u.handleLogin)
	open("POST /accounts/logout/{$}", u.handleLogout)
	open("GET /accounts/oidc/login/{$}", u.handleOIDCLogin)
	open("GET /accounts/oidc/callback/{$}", u.handleOIDCCallback)
	auth("GET /accounts/{$}", u.handleAccount)
	auth("POST /accounts/alerts/{$}", u.handleAccountAlerts)
	auth("GET /accounts/password/{$}", u.handlePasswordForm)
	auth("POST /accounts/password/{$}", u.handlePassword)

	auth("GET /users/{$}", requireAdmin(u.handleUserList))
	admin("POST /users/{$}", u.handleUserCreate)
	admin("POST /users/{name}/{$}", u.handleUserUpdate)

	auth("GET /projects/{$}", u.handleProjectList)
	admin("GET /projects/new/{$}", u.handleProjectNewForm)
	admin("POST /projects/new/{$}", u.handleProjectCreate)
	auth("GET /projects/{pid}/{$}", u.handleIssueList)
	auth("POST /projects/{pid}/issues/{$}", u.handleIssueBulk)
	auth("GET /projects/{pid}/releases/{$}", u.handleReleases)
	auth("GET /projects/{pid}/settings/{$}", u.handleProjectSettings)
	admin("POST /projects/{pid}/settings/{$}", u.handleProjectSave)
	admin("POST /projects/{pid}/quota/{$}", u.handleProjectQuotaSave)
	admin("POST /projects/{pid}/scrubbing/{$}", u.handleProjectScrubSave)
	admin("GET /projects/{pid}/alerts/new/{$}", u.handleBackendNewForm)
	admin("POST /projects/{pid}/alerts/new/{$}", u.handleBackendCreate)
	admin("GET /projects/{pid}/alerts/{bid}/{$}", u.handleBackendEditForm)
	admin("POST /projects/{pid}/alerts/{bid}/{$}", u.handleBackendUpdate)
	admin("POST /projects/{pid}/alerts/{bid}/delete/{$}", u.handleBackendDelete)
	admin("POST /projects/{pid}/alerts/{bid}/test/{$}", u.handleBackendTest)
	auth("GET /projects/{pid}/performance/{$}", u.handleProjectPerformance)
	auth("GET /projects/{pid}/monitors/{$}", u.handleProjectMonitors)
	admin("GET /projects/{pid}/members/{$}", u.handleProjectMembers)
	admin("POST /projects/{pid}/members/{$}", u.handleProjectMembersSave)
	auth("GET /projects/{pid}/uploads/{$}", u.handleProjectUploads)
	admin("POST /projects/{pid}/uploads/{bundle}/delete/{$}", u.handleProjectUploadDelete)

	auth("GET /issues/{id}/{$}", u.handleIssueShow)
	auth("GET /issues/{id}/event/{ev}/{$}", u.handleIssueStacktrace)
	auth("GET /issues/{id}/event/{ev}/details/{$}", u.handleIssueDetails)
	auth("GET /issues/{id}/event/{ev}/breadcrumbs/{$}", u.handleIssueBreadcrumbs)
	auth("GET /issues/{id}/event/{ev}/json/{$}", u.handleEventJSON)
	auth("GET /issues/{id}/event/{ev}/download/{$}", u.handleEventDownload)
	auth("GET /issues/{id}/event/{ev}/md/{$}", u.handleEventMarkdown)
	auth("GET /issues/{id}/event/{ev}/attachments/{n}/{$}", u.handleEventAttachment)
	auth("GET /issues/{id}/events/{$}", u.handleIssueEvents)
	auth("GET /issues/{id}/tags/{$}", u.handleIssueTags)
	auth("GET /issues/{id}/grouping/{$}", u.handleIssueGrouping)
	auth("GET /issues/{id}/history/{$}", u.handleIssueHistory)
	auth("POST /issues/{id}/action/{$}", u.handleIssueAction)
	auth("POST /issues/{id}/comment/{$}", u.handleIssueComment)
	auth("GET /issues/{id}/delete/{$}", u.handleIssueDeleteForm)
	auth("POST /issues/{id}/delete/{$}", u.handleIssueDelete)

	admin("GET /debug/budget/{$}", u.handleBudget)
	admin("GET /quarantine/{$}", u.handleQuarantineList)
	admin("GET /quarantine/{id}/raw", u.handleQuarantineRaw)
	admin("POST /quarantine/{id}/delete/{$}", u.handleQuarantineDelete)
}
