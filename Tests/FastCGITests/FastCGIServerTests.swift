import Dispatch
import FastCGI
import Foundation
import HTTPHead
import HTTPTypes
import Logging
import Synchronization
import Testing

/// The server in this process, talked to over a unix socket by a minimal FastCGI client.
@Suite struct FastCGIServerTests {
    let directory: String
    let socket: String

    init() throws {
        directory = NSTemporaryDirectory() + "fcgi-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        socket = directory + "/s.sock"
    }

    func server(_ handler: @escaping HTTPHandler) throws -> FastCGIServer {
        try FastCGIServer(
            configuration: FastCGIServerConfiguration(address: .unix(path: socket, mode: 0o600), workers: 2),
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, handler: handler)
    }

    static func hello(_ request: RequestHead, _ body: [UInt8]) -> (ResponseHead, [UInt8]) {
        (ResponseHead(status: .ok, headerFields: [.contentType: "text/plain"]), Array("hello \(request.path)".utf8))
    }

    @Test func stopOnAnIdleServerReturnsAtOnceAndRemovesItsSocketFile() throws {
        let server = try server(Self.hello)
        server.start()
        #expect(try FastCGIClient.get(socket: socket, path: "/a").contains("hello /a"))
        let asked = ContinuousClock.now
        let result = server.stop(deadline: .now + .seconds(5))
        #expect(result == FastCGIServer.StopResult(drained: true, inFlight: 0))
        #expect(ContinuousClock.now - asked < .seconds(1), "idle workers are woken, not waited out")
        #expect(!FileManager.default.fileExists(atPath: socket))
    }

    @Test func aRequestStillInFlightAtTheDeadlineIsReportedNotKilledAndFinishesLater() throws {
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let server = try server { request, body in
            entered.signal()
            release.wait()
            return Self.hello(request, body)
        }
        server.start()
        let answer = Mutex<String?>(nil)
        let answered = DispatchSemaphore(value: 0)
        let socket = socket
        Thread.detachNewThread {
            answer.withLock { $0 = try? FastCGIClient.get(socket: socket, path: "/slow") }
            answered.signal()
        }
        #expect(entered.wait(timeout: .now() + 5) == .success)
        let asked = ContinuousClock.now
        let early = server.stop(deadline: .now + .milliseconds(300))
        #expect(early == FastCGIServer.StopResult(drained: false, inFlight: 1))
        #expect(ContinuousClock.now - asked < .seconds(2))
        #expect(throws: (any Error).self, "no new connections once stopping") { try FastCGIClient.get(socket: socket, path: "/new") }
        release.signal()
        #expect(answered.wait(timeout: .now() + 5) == .success)
        #expect(answer.withLock { $0 }?.contains("hello /slow") == true, "the request was not cut off by the library")
        #expect(server.stop(deadline: .now + .seconds(5)) == FastCGIServer.StopResult(drained: true, inFlight: 0))
    }

    /// libfcgi's FCGX_Init installs handlers for SIGTERM, SIGPIPE and SIGUSR1; the server must undo that and
    /// install none itself, whichever test of this process initialised libfcgi first.
    @Test func theServerCatchesNoSignals() throws {
        let server = try server(Self.hello)
        server.start()
        server.stop(deadline: .now + .seconds(5))
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("SigCgt:") })
        let caught = try #require(UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16))
        for number in [SIGTERM, SIGINT, SIGPIPE, SIGUSR1, SIGUSR2] {
            #expect(caught & (1 << UInt64(number - 1)) == 0, "signal \(number) has a handler")
        }
    }
}

/// Just enough of the FastCGI protocol (one responder request, no body) to test the server.
enum FastCGIClient {
    struct Failure: Error { let what: String }

    /// Sends GET `path`; returns the responder's stdout (CGI head and body).
    static func get(socket path: String, path requestPath: String) throws -> String {
        let fd = try send(socket: path, path: requestPath)
        defer { close(fd) }
        return try answer(fd)
    }

    /// Sends GET `path` and returns the connection, for a test that reads later or hangs up.
    static func send(socket path: String, path requestPath: String) throws -> Int32 {
        let fd = Foundation.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(what: "socket") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: Array(path.utf8))
            buffer[path.utf8.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(what: "connect: \(errno)")
        }
        var params: [UInt8] = []
        for (name, value) in [("REQUEST_METHOD", "GET"), ("REQUEST_URI", requestPath), ("SERVER_PROTOCOL", "HTTP/1.1")] {
            params += [UInt8(name.utf8.count), UInt8(value.utf8.count)] + Array(name.utf8) + Array(value.utf8)
        }
        let request = record(1, [0, 1, 0, 0, 0, 0, 0, 0]) + record(4, params) + record(4, []) + record(5, [])
        guard request.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == request.count else {
            close(fd)
            throw Failure(what: "write")
        }
        return fd
    }

    /// Reads the answer to its end; returns the responder's stdout.
    static func answer(_ fd: Int32) throws -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            received += buffer[..<count]
        }
        // Collect the STDOUT records (type 6) until END_REQUEST (type 3).
        var stdout: [UInt8] = []
        var offset = 0
        while offset + 8 <= received.count {
            let type = received[offset + 1]
            let length = Int(received[offset + 4]) << 8 | Int(received[offset + 5])
            let padding = Int(received[offset + 6])
            guard offset + 8 + length <= received.count else { break }
            if type == 6 { stdout += received[(offset + 8)..<(offset + 8 + length)] }
            if type == 3 { return String(decoding: stdout, as: UTF8.self) }
            offset += 8 + length + padding
        }
        throw Failure(what: "no END_REQUEST in \(received.count) bytes")
    }

    private static func record(_ type: UInt8, _ content: [UInt8]) -> [UInt8] {
        [1, type, 0, 1, UInt8(content.count >> 8), UInt8(content.count & 0xFF), 0, 0] + content
    }
}
