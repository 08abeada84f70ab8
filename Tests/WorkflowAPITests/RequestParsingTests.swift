import HTTPHead
import HTTPTypes
import Testing
@testable import WorkflowAPI

@Suite struct RequestParsingTests {
    @Test func nonStandardMethodsShareOneLabel() {
        #expect(WorkflowAPI.methodLabel(.post) == "POST")
        #expect(WorkflowAPI.methodLabel(HTTPRequest.Method("BREW")!) == "OTHER")
        #expect(WorkflowAPI.methodLabel(HTTPRequest.Method("X48213")!) == "OTHER")
    }

    @Test func queryValuesAreFormDecodedAndMalformedEscapesKeptAsSent() {
        #expect(APIRequest.formDecoded("a+b%20c") == "a b c")
        #expect(APIRequest.formDecoded("%7B%22team%22%3A%22t-1%22%7D") == #"{"team":"t-1"}"#)
        #expect(APIRequest.formDecoded("caf%C3%A9") == "café")
        #expect(APIRequest.formDecoded("100%") == "100%", "a dangling %")
        #expect(APIRequest.formDecoded("a%zz+b") == "a%zz b", "not hex: only + is decoded")
        #expect(APIRequest.formDecoded("%FF%FE") == "%FF%FE", "not UTF-8 once decoded")
        #expect(APIRequest.parseQuery("limit=5&context=%7B%7D&flag&x=a%3Db").map { "\($0.0)=\($0.1)" } == ["limit=5", "context={}", "flag=", "x=a=b"])
    }

    @Test func contentTypeIgnoresCaseParametersAndSpaces() {
        func isJSON(_ value: String) -> Bool {
            var head = HTTPRequest(method: .post, scheme: "http", authority: nil, path: "/")
            head.headerFields[.contentType] = value
            return APIRequest(head: RequestHead(head), body: [], requestId: "r").hasJSONContentType
        }
        #expect(isJSON("application/json"))
        #expect(isJSON(" Application/JSON ; charset=utf-8"))
        #expect(isJSON("application/merge-patch+json"))
        #expect(!isJSON("text/plain"))
        #expect(isJSON("APPLICATION/VND.API+JSON"))
        #expect(isJSON("application/+json"))
        #expect(!isJSON("application/jsonx"))
        #expect(!isJSON("text/json"))
        #expect(!isJSON("application/json+x"))
        #expect(!isJSON("application/problem+jso"))
        #expect(!isJSON(""))
        #expect(isJSON("\tapplication/json\t;charset=utf-8"))
        #expect(!isJSON(" \t "))
    }

    @Test func aPathIsSplitAtEverySlashKeepingEmptySegments() {
        func split(_ path: String) -> [String] { APIRequest.segments(of: path).map(String.init) }
        #expect(split("/api/v1/workflows") == ["api", "v1", "workflows"])
        #expect(split("/a//b/") == ["a", "", "b", ""])
        #expect(split("/") == [""])
        #expect(split("") == [])
        #expect(split("/caf\u{E9}/x") == ["caf\u{E9}", "x"], "offsets are bytes: a multi-byte character before a slash")
        for path in ["/api/v1/workflows/0a1b/transitions", "/x/é/ü//", "no-slash", "/a/b/c/d/e/f/g/h/i/j/k"] {
            #expect(split(path) == path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init))
        }
    }

    @Test func httpWhitespaceIsTrimmed() {
        #expect(" \t abc \t".trimmingHTTPWhitespace() == "abc")
        #expect("   ".trimmingHTTPWhitespace() == "")
        #expect("a b".trimmingHTTPWhitespace() == "a b")
    }
}
