import Glibc
public import Foundation

/// A response as the tests look at it.
public struct HTTPResult: Sendable, CustomStringConvertible {
    public let status: Int
    public let headers: [String: String]
    public let body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
    /// The body as a JSON object (empty if it is not one).
    public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    public var description: String { "HTTP \(status) \(headers) \(text.prefix(2000))" }
}

/// A deliberately small HTTP/1.0 client over a TCP socket: nothing is added, rewritten or retried, so
/// tests can send exactly what they mean (lying Content-Length, odd headers) and see exactly what nginx sends.
public struct HTTPClient: Sendable {
    public let port: Int
    /// A loopback address to connect from (e.g. 127.0.0.2), to test address-based rules.
    public let sourceAddress: String?
    public var timeout: TimeInterval = 30

    public init(port: Int, sourceAddress: String? = nil) {
        self.port = port
        self.sourceAddress = sourceAddress
    }

    public func request(
        _ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8]? = nil, token: String? = nil
    ) throws -> HTTPResult {
        var head = "\(method) \(path) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\n"
        var fields = headers
        if let token { fields["Authorization"] = "Bearer \(token)" }
        if let body, fields["Content-Length"] == nil { fields["Content-Length"] = String(body.count) }
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        return try exchange(Array(head.utf8) + (body ?? []))
    }

    /// JSON convenience: sets Content-Type and serialises `json`.
    public func send(_ method: String, _ path: String, json: Any? = nil, token: String? = nil, headers: [String: String] = [:]) throws -> HTTPResult {
        var fields = headers
        var body: [UInt8]?
        if let json {
            fields["Content-Type"] = fields["Content-Type"] ?? "application/json"
            body = Array(try JSONSerialization.data(withJSONObject: json))
        }
        return try request(method, path, headers: fields, body: body, token: token)
    }

    func exchange(_ bytes: [UInt8]) throws -> HTTPResult {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ShellError(description: "socket() failed") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if let sourceAddress {
            var source = sockaddr_in()
            source.sin_family = sa_family_t(AF_INET)
            source.sin_addr.s_addr = inet_addr(sourceAddress)
            let bound = withUnsafePointer(to: &source) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw ShellError(description: "cannot bind to \(sourceAddress)") }
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw ShellError(description: "cannot connect to 127.0.0.1:\(port)") }
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }  // the server may answer (e.g. 413) before reading everything
            sent += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 { throw ShellError(description: "timed out waiting for a response") }
            if n == 0 { break }
            response += buffer[0..<n]
        }
        return try Self.parse(response)
    }

    static func parse(_ bytes: [UInt8]) throws -> HTTPResult {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else {
            throw ShellError(description: "incomplete HTTP response: \(String(decoding: bytes, as: UTF8.self))")
        }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw ShellError(description: "bad status line \(lines[0])") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPResult(status: status, headers: headers, body: Array(bytes[(end + 4)...]))
    }
}
