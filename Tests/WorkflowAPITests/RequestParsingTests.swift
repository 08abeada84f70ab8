import HTTPTypes
import Testing
@testable import WorkflowAPI

@Suite struct RequestParsingTests {
    func segments(_ path: String) -> [Substring] {
        APIRequest(head: HTTPRequest(method: .get, scheme: "http", authority: nil, path: path), body: [], requestId: "r").segments
    }

    @Test func metricRouteLabelsNameTemplatesNotIds() {
        let id = "6f1c2f7e-4a51-4a55-9a8e-0c4f3b1e2d3c"
        #expect(WorkflowAPI.routeLabel(segments("/api/v1/workflows")) == "/api/v1/workflows")
        #expect(WorkflowAPI.routeLabel(segments("/api/v1/workflows/\(id)")) == "/api/v1/workflows/{workflowInstanceId}")
        #expect(WorkflowAPI.routeLabel(segments("/api/v1/workflows/\(id)/transitions")) == "/api/v1/workflows/{workflowInstanceId}/transitions")
        #expect(WorkflowAPI.routeLabel(segments("/api/v1/workflow-definitions/create-prd")) == "/api/v1/workflow-definitions/{definitionId}")
        #expect(WorkflowAPI.routeLabel(segments("/metrics")) == "/metrics")
    }

    /// Every 404 shares one label: arbitrary paths must not grow the metrics registry without bound.
    @Test(arguments: ["/", "/api/v1/x48213", "/api/v1/workflows/a/b91", "/api/v1/health/x",
                      "/api/v1/workflows/a/b/c", "/api/v2/workflows", "/favicon.ico"])
    func unknownPathsShareOneLabel(_ path: String) {
        #expect(WorkflowAPI.routeLabel(segments(path)) == "unmatched")
    }

    @Test func nonStandardMethodsShareOneLabel() {
        #expect(WorkflowAPI.methodLabel(.post) == "POST")
        #expect(WorkflowAPI.methodLabel(HTTPRequest.Method("BREW")!) == "OTHER")
        #expect(WorkflowAPI.methodLabel(HTTPRequest.Method("X48213")!) == "OTHER")
    }

    @Test func contentTypeIgnoresCaseParametersAndSpaces() {
        func isJSON(_ value: String) -> Bool {
            var head = HTTPRequest(method: .post, scheme: "http", authority: nil, path: "/")
            head.headerFields[.contentType] = value
            return APIRequest(head: head, body: [], requestId: "r").hasJSONContentType
        }
        #expect(isJSON("application/json"))
        #expect(isJSON(" Application/JSON ; charset=utf-8"))
        #expect(isJSON("application/merge-patch+json"))
        #expect(!isJSON("text/plain"))
        #expect(!isJSON("application/jsonx"))
        #expect(!isJSON(""))
    }

    @Test func httpWhitespaceIsTrimmed() {
        #expect(" \t abc \t".trimmingHTTPWhitespace() == "abc")
        #expect("   ".trimmingHTTPWhitespace() == "")
        #expect("a b".trimmingHTTPWhitespace() == "a b")
    }
}
