extension UnsafeMutableBufferPointer {
    /// Allocates `count` elements, each set to `value`. The stages make all their working storage this way once,
    /// at start-up, so the per-frame path never allocates.
    public static func allocate(_ count: Int, filledWith value: Element) -> Self {
        let buffer = Self.allocate(capacity: count)
        buffer.initialize(repeating: value)
        return buffer
    }

    /// Allocates a copy of `elements`.
    public static func allocate(copying elements: [Element]) -> Self {
        let buffer = Self.allocate(capacity: elements.count)
        _ = buffer.initialize(from: elements)
        return buffer
    }
}
