import HTTPTypes
import Testing
@testable import WorkflowAPI

@Suite struct RequestParsingTests {
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
