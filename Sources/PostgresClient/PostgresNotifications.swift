import CLibPQ
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A notification received on a connection that LISTENs.
public struct PostgresNotification: Sendable, Equatable {
    public let channel: String
    public let payload: String
}

extension PostgresConnection {
    /// `LISTEN channel`. The name must be a plain lower-case identifier (it becomes SQL text, not a bind
    /// parameter, which LISTEN does not take).
    public func listen(_ channel: String) throws(PostgresError) {
        guard !channel.isEmpty, channel.utf8.allSatisfy({ (0x61...0x7A).contains($0) || $0 == 0x5F || (0x30...0x39).contains($0) }) else {
            throw PostgresError(kind: .server, message: "invalid channel name \(channel.debugDescription)")
        }
        try executeScript("LISTEN \(channel)")
    }

    /// Waits at most `timeout` for notifications on this (otherwise idle) connection and returns the ones
    /// that arrived, oldest first; none when the time ran out. The short wait is what lets a listener
    /// thread see a stop request promptly. Throws `.connectionFailed` (and closes the connection) when the
    /// server went away, e.g. restarted: the listener must then connect and LISTEN again.
    public func notifications(waitingUpTo timeout: Duration) throws(PostgresError) -> [PostgresNotification] {
        guard let conn, !isBroken else { throw PostgresError(kind: .connectionFailed, message: "connection is closed") }
        var found = Self.takeNotifications(conn)
        guard found.isEmpty else { return found }
        var pfd = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(clamping: Int64(max(0, timeout / .milliseconds(1))))
        if poll(&pfd, 1, milliseconds) > 0 {
            guard PQconsumeInput(conn) == 1 else {
                let message = String(cString: PQerrorMessage(conn)).trimmingCharacters(in: .whitespacesAndNewlines)
                close()
                throw PostgresError(kind: .connectionFailed, message: message)
            }
            found = Self.takeNotifications(conn)
        }
        guard PQstatus(conn) == CONNECTION_OK else {
            close()
            throw PostgresError(kind: .connectionFailed, message: "the server closed the connection")
        }
        return found
    }

    private static func takeNotifications(_ conn: OpaquePointer) -> [PostgresNotification] {
        var found: [PostgresNotification] = []
        while let notification = PQnotifies(conn) {
            found.append(PostgresNotification(
                channel: String(cString: notification.pointee.relname), payload: String(cString: notification.pointee.extra)))
            PQfreemem(notification)
        }
        return found
    }
}
