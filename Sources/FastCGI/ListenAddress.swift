#if canImport(Glibc)
import Glibc
#endif

/// Where the FastCGI responder listens.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// A unix socket path, created with the given permission bits.
    case unix(path: String, mode: UInt32)
    /// A TCP address; the host must be a numeric IPv4 address (e.g. 127.0.0.1).
    case tcp(host: String, port: UInt16)
    /// An already-listening socket inherited on file descriptor 0 (spawn-fcgi, systemd socket activation).
    case inherited

    public var description: String {
        switch self {
        case .unix(let path, _): return "unix:\(path)"
        case .tcp(let host, let port): return "\(host):\(port)"
        case .inherited: return "fd 0 (inherited)"
        }
    }

    /// Parses `host:port` as given to `--listen`.
    public static func parseTCP(_ text: String) -> ListenAddress? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0 else {
            return nil
        }
        let host = String(text[..<colon])
        var addr = in_addr()
        guard inet_pton(AF_INET, host, &addr) == 1 else { return nil }
        return .tcp(host: host, port: port)
    }

    /// Whether file descriptor 0 is a listening socket (the socket-activation convention).
    public static var isStandardInputListening: Bool {
        var accepting: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0 && accepting != 0
    }
}

/// Why the listen socket could not be opened, said so that an operator can act on it.
public struct ListenError: Error, CustomStringConvertible {
    public let description: String
    /// True when trying again cannot help (a bad path, no socket on fd 0): the address must change.
    /// False for what time may fix, such as an address still in use by a process that is stopping.
    public let isPermanent: Bool

    public init(description: String, isPermanent: Bool) {
        self.description = description
        self.isPermanent = isPermanent
    }
}

/// An open listening socket, and how to clean it up.
struct ListenSocket {
    let fd: Int32
    /// The unix socket path and inode we created, so we never unlink a newer instance's socket.
    let createdPath: (path: String, inode: UInt64)?

    /// Handed to us on fd 0 by a supervisor (systemd, spawn-fcgi): it outlives this process.
    var isInherited: Bool { fd == 0 }

    static func open(_ address: ListenAddress, backlog: Int32) throws(ListenError) -> ListenSocket {
        switch address {
        case .inherited:
            guard ListenAddress.isStandardInputListening else {
                throw ListenError(description: "file descriptor 0 is not a listening socket; give --socket or --listen", isPermanent: true)
            }
            return ListenSocket(fd: 0, createdPath: nil)
        case .tcp(let host, let port):
            return try openTCP(host: host, port: port, backlog: backlog)
        case .unix(let path, let mode):
            return try openUnix(path: path, mode: mode, backlog: backlog)
        }
    }

    private static func openTCP(host: String, port: UInt16, backlog: Int32) throws(ListenError) -> ListenSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ListenError(description: "cannot create a TCP socket: \(errnoText())", isPermanent: false) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &addr.sin_addr)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, backlog) == 0 else {
            let reason = errnoText()
            close(fd)
            throw ListenError(description: "cannot listen on \(host):\(port): \(reason)", isPermanent: false)
        }
        return ListenSocket(fd: fd, createdPath: nil)
    }

    private static func openUnix(path: String, mode: UInt32, backlog: Int32) throws(ListenError) -> ListenSocket {
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw ListenError(description: "socket path is too long (max 107 bytes): \(path)", isPermanent: true)
        }
        var existing = stat()
        if lstat(path, &existing) == 0 {
            guard (existing.st_mode & S_IFMT) == S_IFSOCK else {
                throw ListenError(description: "\(path) exists and is not a socket; refusing to replace it", isPermanent: true)
            }
            if canConnect(toUnixPath: path) {
                throw ListenError(description: "another process is already serving on \(path); stop it first or choose another --socket", isPermanent: false)
            }
            unlink(path)  // stale socket of a process that is gone
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ListenError(description: "cannot create a unix socket: \(errnoText())", isPermanent: false) }
        var addr = unixAddress(path)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let reason = errnoText()
            close(fd)
            throw ListenError(description: "cannot bind \(path): \(reason)", isPermanent: false)
        }
        guard chmod(path, mode_t(mode)) == 0, listen(fd, backlog) == 0 else {
            let reason = errnoText()
            close(fd)
            unlink(path)
            throw ListenError(description: "cannot listen on \(path): \(reason)", isPermanent: false)
        }
        var created = stat()
        stat(path, &created)
        return ListenSocket(fd: fd, createdPath: (path, UInt64(created.st_ino)))
    }

    /// Removes the unix socket file, but only if it is still the one we created.
    func removeSocketFile() {
        guard let createdPath else { return }
        var current = stat()
        if stat(createdPath.path, &current) == 0, UInt64(current.st_ino) == createdPath.inode {
            unlink(createdPath.path)
        }
    }

    private static func canConnect(toUnixPath path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = unixAddress(path)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }

    private static func unixAddress(_ path: String) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { buffer in
            let bytes = Array(path.utf8)
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        return addr
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }
