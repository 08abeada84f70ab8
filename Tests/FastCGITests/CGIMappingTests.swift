import HTTPHead
import HTTPTypes
import Testing
@testable import FastCGI

@Suite struct CGIMappingTests {
    @Test func paramsBecomeAnHTTPRequest() throws {
        let request = try CGIMapping.request(from: [
            ("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/api/v1/workflows?limit=5"), ("QUERY_STRING", "limit=5"),
            ("CONTENT_TYPE", "application/json"), ("CONTENT_LENGTH", "17"), ("HTTP_HOST", "example.test"),
            ("HTTP_AUTHORIZATION", "Bearer abc"), ("HTTP_X_REQUEST_ID", "req-1"), ("HTTPS", "on"),
            ("SERVER_NAME", "ignored"),
        ])
        #expect(request.method == .post)
        #expect(request.path == "/api/v1/workflows?limit=5")
        #expect(request.scheme == "https")
        #expect(request.authority == "example.test")
        #expect(request.headerFields[.contentType] == "application/json")
        #expect(request.headerFields[.contentLength] == "17")
        #expect(request.headerFields[.authorization] == "Bearer abc")
        #expect(request.headerFields[HTTPField.Name("X-Request-Id")!] == "req-1")
    }

    @Test func headerCopiesOfContentFieldsAndInvalidNamesAreIgnored() throws {
        let request = try CGIMapping.request(from: [
            ("REQUEST_METHOD", "PUT"), ("REQUEST_URI", "/x"), ("CONTENT_TYPE", "application/json"),
            ("HTTP_CONTENT_TYPE", "text/plain"), ("HTTP_CONTENT_LENGTH", "99"), ("HTTP_BAD NAME", "v"),
            ("HTTP_X_FORWARDED_FOR", "10.0.0.1"), ("HTTP_HOST", "h.test"), ("HTTPS", "off"), ("REMOTE_PORT", "5"),
        ])
        #expect(request.headerFields.map(\.name.canonicalName) == ["content-type", "x-forwarded-for"])
        #expect(request.headerFields[.contentType] == "application/json")
        #expect(request.headerFields[HTTPField.Name("X-Forwarded-For")!] == "10.0.0.1")
        #expect(request.authority == "h.test")
        #expect(request.scheme == "http")
    }

    @Test func everyVariableIsFoundByItsNameAndNoOtherNameIsTakenForOne() {
        func lookup(_ name: String) -> CGIMapping.Variable? {
            Array(name.utf8).withUnsafeBytes { CGIMapping.Variable($0) }
        }
        for variable in CGIMapping.Variable.allCases {
            #expect(lookup(variable.name.description) == variable)
        }
        // nginx's other parameters, some with a variable's length and first letter
        for name in ["REMOTE_ADDR", "SERVER_NAME", "SERVER_PORT", "REQUEST_SCHEME", "CONTENT_LENGTX", "HTTPX", "HTTP_",
                     "QUERY_STRINGS", "DOCUMENT_ROOT", "SCRIPT_FILENAME", "REQUEST_ID", "request_method", "", "H"] {
            #expect(lookup(name) == nil, "\(name)")
        }
    }

    @Test func aKnownHeaderGetsTheNameItsParameterSpells() {
        func bytes(_ text: String, _ body: (UnsafeRawBufferPointer) -> HTTPField.Name?) -> HTTPField.Name? {
            Array(text.utf8).withUnsafeBytes(body)
        }
        for (parameter, name) in CGIMapping.knownHeaders {
            let spelled = bytes(parameter.description) { CGIMapping.headerName(spelling: $0) }
            #expect(spelled == name, "\(parameter)")
            #expect(bytes(parameter.description) { CGIMapping.headerName(fromParameter: $0) } == name)
            #expect(String(name.canonicalName.uppercased().map { $0 == "-" ? "_" : $0 }) == parameter.description)
        }
        #expect(bytes("X_CUSTOM") { CGIMapping.headerName(fromParameter: $0) }?.canonicalName == "x-custom")
    }

    @Test func methodsAreReadAsSentAndAnyOtherTokenIsKept() throws {
        func method(_ text: String) throws -> HTTPRequest.Method {
            try CGIMapping.request(from: [("REQUEST_METHOD", text), ("REQUEST_URI", "/")]).method
        }
        for expected: HTTPRequest.Method in [.get, .head, .post, .put, .patch, .delete, .options] {
            #expect(try method(expected.rawValue) == expected)
        }
        #expect(try method("PROPFIND").rawValue == "PROPFIND")
        #expect(try method("get").rawValue == "get", "methods are case-sensitive")
        #expect(throws: CGIMapping.MappingError.invalidMethod("G T")) { try method("G T") }
        #expect(throws: CGIMapping.MappingError.invalidMethod("")) { try method("") }
    }

    @Test func fieldsAreReadFirstOrJoinedAndKeptAsSent() throws {
        let request = try CGIMapping.request(from: [
            ("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/"), ("HTTP_ACCEPT", "text/html"), ("HTTP_COOKIE", "a=1"),
            ("HTTP_ACCEPT", "application/json"), ("HTTP_COOKIE", "b=2"), ("HTTP_X_NOTE", " padded\u{1} "),
        ])
        #expect(request.headerFields.first(.accept) == "text/html")
        #expect(request.headerFields[.accept] == "text/html, application/json")
        #expect(request.headerFields[.cookie] == "a=1; b=2")
        #expect(request.headerFields[.authorization] == nil && request.headerFields.first(.authorization) == nil)
        // Not cleaned up as an HTTPField would be: a value that goes into a response is checked there.
        #expect(request.headerFields[HTTPField.Name("X-Note")!] == " padded\u{1} ")
    }

    @Test func anHTTPRequestBecomesTheSameHead() {
        var request = HTTPRequest(method: .patch, scheme: "https", authority: "h.test", path: "/a?b=1")
        request.headerFields[.ifMatch] = "\"3\""
        request.headerFields.append(HTTPField(name: .accept, value: "a"))
        request.headerFields.append(HTTPField(name: .accept, value: "b"))
        let head = RequestHead(request)
        #expect(head.method == .patch && head.scheme == "https" && head.authority == "h.test" && head.path == "/a?b=1")
        #expect(head.headerFields.map(\.name) == [.ifMatch, .accept, .accept])
        #expect(head.headerFields[.accept] == request.headerFields[.accept])
    }

    @Test func missingMethodIsAnError() {
        #expect(throws: CGIMapping.MappingError.missingParameter("REQUEST_METHOD")) {
            try CGIMapping.request(from: [("REQUEST_URI", "/")])
        }
    }

    @Test func scriptNameAndQueryStandInForAMissingRequestURI() throws {
        let request = try CGIMapping.request(from: [("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", "/x"), ("QUERY_STRING", "a=1")])
        #expect(request.path == "/x?a=1")
        #expect(request.scheme == "http")
    }

    @Test func responseHeadHasStatusLineAndFields() {
        let response = ResponseHead(status: .notFound, headerFields: [.contentType: "application/problem+json", .contentLength: "2"])
        #expect(String(decoding: CGIMapping.responseHead(for: response), as: UTF8.self)
            == "Status: 404 Not Found\r\nContent-Type: application/problem+json\r\nContent-Length: 2\r\n\r\n")
        let ok = ResponseHead(status: .ok, headerFields: [.eTag: "\"3\""])
        #expect(String(decoding: CGIMapping.responseHead(for: ok), as: UTF8.self) == "Status: 200 OK\r\nETag: \"3\"\r\n\r\n")
    }

    /// Set by name, a field replaces every field of that name and goes last; nil removes them.
    @Test func settingAFieldByNameReplacesEveryOneOfThatName() {
        var fields: HeaderFields = [.vary: "Origin", .eTag: "\"1\"", .vary: "Accept"]
        fields[.vary] = "Origin, Accept"
        #expect(fields.map(\.name) == [.eTag, .vary] && fields[.vary] == "Origin, Accept")
        fields[.eTag] = nil
        #expect(fields.map(\.name) == [.vary] && fields.first(.eTag) == nil)
    }

    /// Response values are written as they are, so outside text is made legal first: no line break or
    /// control byte can end a field early or start another.
    @Test func outsideTextIsMadeALegalFieldValue() {
        let legal = HeaderFields.legal(" a\r\nSet-Cookie: x\u{0}b ")
        #expect(!legal.utf8.contains { $0 < 0x20 || $0 == 0x7F }, "\(legal.debugDescription)")
        #expect(legal.hasPrefix("a") && legal.hasSuffix("b"))
        #expect(HeaderFields.legal("Bearer error=\"invalid_token\"") == "Bearer error=\"invalid_token\"")
    }

    /// What is legal already comes back as it is: tabs and spaces inside, bytes of 0x80 and above (a
    /// UTF-8 letter); whitespace at an end, a delete or a control byte anywhere is not legal.
    @Test(arguments: ["", "req-1", "a\tb c", "café", "\u{7E}~"])
    func legalTextComesBackUnchanged(_ text: String) {
        #expect(HeaderFields.legal(text) == text)
    }

    @Test(arguments: [(" a", "a"), ("a\t", "a"), ("a\u{7F}b", "a b"), ("a\u{1}b", "a b"), ("\tx y ", "x y")])
    func illegalTextIsMadeLegal(_ text: String, _ expected: String) {
        #expect(HeaderFields.legal(text) == expected)
    }

    @Test func aResponseHeadAndAnHTTPResponseCarryTheSameStatusAndFields() {
        let http = HTTPResponse(status: .created, headerFields: [.location: "/x", .eTag: "\"1\"", .vary: "Origin"])
        let head = ResponseHead(http)
        #expect(head.status == .created && head.status.reasonPhrase == "Created")
        #expect(head.headerFields.map(\.name) == [.location, .eTag, .vary] && head.headerFields[.eTag] == "\"1\"")
        #expect(head.httpResponse == http)
    }

    @Test func listenAddressParsing() {
        #expect(ListenAddress.parseTCP("127.0.0.1:9000") == .tcp(host: "127.0.0.1", port: 9000))
        #expect(ListenAddress.parseTCP(":9000") == nil)
        #expect(ListenAddress.parseTCP("127.0.0.1:0") == nil)
        #expect(ListenAddress.parseTCP("localhost:9000") == nil)
    }
}
