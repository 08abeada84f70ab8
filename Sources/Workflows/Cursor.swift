#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TextCoding

/// Opaque cursors: base64url of a small versioned text, so clients cannot depend on their shape.
enum CursorCoding {
    static func encode(_ cursor: InstanceCursor) -> String { encodeKeyset("i1", cursor) }

    static func decodeInstanceCursor(_ text: String) throws(WorkflowError) -> InstanceCursor { try decodeKeyset("i1", text) }

    /// A task's position: when its wait began, and the instance.
    static func encode(task cursor: InstanceCursor) -> String { encodeKeyset("t1", cursor) }

    static func decodeTaskCursor(_ text: String) throws(WorkflowError) -> InstanceCursor { try decodeKeyset("t1", text) }

    /// The tag keeps one listing's cursor from being taken by another.
    private static func encodeKeyset(_ tag: String, _ cursor: InstanceCursor) -> String {
        encodeText("\(tag):\(cursor.createdAt.microsecondsSinceEpoch):\(cursor.id.lowercaseText)")
    }

    private static func decodeKeyset(_ tag: String, _ text: String) throws(WorkflowError) -> InstanceCursor {
        let parts = try decodeText(text).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == tag, let micros = Int64(parts[1]), let id = UUID(text: parts[2])
        else { throw .invalidCursor }
        return InstanceCursor(createdAt: Timestamp(microsecondsSinceEpoch: micros), id: id)
    }

    static func encode(eventId: Int64) -> String { encodeText("e1:\(eventId)") }

    static func decodeEventCursor(_ text: String) throws(WorkflowError) -> Int64 {
        let parts = try decodeText(text).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "e1", let id = Int64(parts[1]), id >= 0 else { throw .invalidCursor }
        return id
    }

    /// A feed position (also a feed stream's event id).
    static func encode(feed position: FeedPosition) -> String { encodeText("f1:\(position.txid):\(position.eventId)") }

    static func decodeFeedCursor(_ text: String) throws(WorkflowError) -> FeedPosition {
        let parts = try decodeText(text).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "f1", let txid = UInt64(parts[1]), let id = Int64(parts[2]), id >= 0 else {
            throw .invalidCursor
        }
        return FeedPosition(txid: txid, eventId: id)
    }

    private static func encodeText(_ text: String) -> String { Base64URL.encode(text.utf8) }

    private static func decodeText(_ cursor: String) throws(WorkflowError) -> String {
        guard cursor.utf8.count <= 200, let bytes = Base64URL.decode(cursor), let text = String(validating: bytes, as: UTF8.self) else {
            throw .invalidCursor
        }
        return text
    }
}
