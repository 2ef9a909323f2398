/// The classes of a segmentation: each with an id (the value a mask stores), a name and the
/// colour it is painted in. Id 0 is the background; the value 255 means "no label" and is never a
/// class (masks use it for pixels to leave out of loss and metrics).
public struct ClassLegend: Sendable, Equatable {
    /// An 8-bit RGB colour.
    public struct Color: Sendable, Hashable, CustomStringConvertible {
        public var red: UInt8
        public var green: UInt8
        public var blue: UInt8

        public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
            self.red = red
            self.green = green
            self.blue = blue
        }

        /// The colour as 0x00RRGGBB, the key of the colour lookup.
        public var packed: UInt32 { UInt32(red) << 16 | UInt32(green) << 8 | UInt32(blue) }

        public var description: String { "(\(red), \(green), \(blue))" }
    }

    /// One class of the legend.
    public struct Entry: Sendable, Equatable {
        public var id: UInt8
        public var name: String
        public var color: Color

        public init(id: UInt8, name: String, color: Color) {
            self.id = id
            self.name = name
            self.color = color
        }
    }

    /// The id of the background class.
    public static let backgroundID: UInt8 = 0
    /// The mask value for "no label": excluded from loss and metrics, never a class id.
    public static let ignoreValue: UInt8 = 255

    /// The classes in ascending id order.
    public let classes: [Entry]
    private let idByColor: [UInt32: UInt8]
    private let classByID: [Int]  // 256 slots: index into `classes`, or -1

    /// Builds a legend, or says what is wrong: duplicate ids, names or colours, the ignore value
    /// used as an id, an empty name, or no background class (id 0).
    public init(classes: [Entry]) throws(ClassLegendError) {
        var slots = [Int](repeating: -1, count: 256)
        var idByColor: [UInt32: UInt8] = [:]
        var names: Set<String> = []
        let sorted = classes.sorted { $0.id < $1.id }
        for (index, entry) in sorted.enumerated() {
            if entry.id == ClassLegend.ignoreValue {
                throw ClassLegendError("class \"\(entry.name)\" uses id 255, which is reserved for \"no label\"")
            }
            if slots[Int(entry.id)] >= 0 {
                throw ClassLegendError("id \(entry.id) is used by two classes")
            }
            if entry.name.isEmpty { throw ClassLegendError("class \(entry.id) has an empty name") }
            if !names.insert(entry.name).inserted {
                throw ClassLegendError("name \"\(entry.name)\" is used by two classes")
            }
            if let other = idByColor[entry.color.packed] {
                throw ClassLegendError("colour \(entry.color) is used by classes \(other) and \(entry.id)")
            }
            slots[Int(entry.id)] = index
            idByColor[entry.color.packed] = entry.id
        }
        if slots[Int(ClassLegend.backgroundID)] < 0 {
            throw ClassLegendError("no background class with id 0")
        }
        self.classes = sorted
        self.idByColor = idByColor
        classByID = slots
    }

    /// The legend of UNET.md: background and the five classes of the reference model.
    public static let `default` = ClassLegend(valid: [
        Entry(id: 0, name: "background", color: Color(255, 255, 255)),
        Entry(id: 1, name: "buildings", color: Color(150, 150, 150)),
        Entry(id: 2, name: "roads & tracks", color: Color(223, 194, 125)),
        Entry(id: 3, name: "trees", color: Color(27, 120, 55)),
        Entry(id: 4, name: "crops", color: Color(166, 219, 160)),
        Entry(id: 5, name: "water", color: Color(116, 173, 209)),
    ])

    /// Distinct fixed colours for generic legends, background white first.
    private static let genericColors: [Color] = [
        Color(255, 255, 255), Color(230, 25, 75), Color(60, 180, 75), Color(255, 225, 25),
        Color(0, 130, 200), Color(245, 130, 48), Color(145, 30, 180), Color(70, 240, 240),
        Color(240, 50, 230), Color(210, 245, 60), Color(250, 190, 212), Color(0, 128, 128),
        Color(220, 190, 255), Color(170, 110, 40), Color(255, 250, 200), Color(128, 0, 0),
        Color(170, 255, 195), Color(128, 128, 0), Color(255, 215, 180), Color(0, 0, 128),
        Color(128, 128, 128), Color(0, 0, 0),
    ]

    /// A legend for a model with `classCount` classes (background not counted): the default
    /// legend for 5, otherwise background plus `class1`…`classN` with distinct fixed colours.
    /// `classCount` is clamped to 1...254.
    public static func generic(classCount: Int) -> ClassLegend {
        if classCount == 5 { return .default }
        let count = min(max(classCount, 1), 254)
        var entries = [Entry(id: 0, name: "background", color: genericColors[0])]
        var used: Set<UInt32> = [genericColors[0].packed]
        for id in 1...count {
            var color: Color
            if id < genericColors.count {
                color = genericColors[id]
            } else {
                // Past the fixed list, step through the RGB cube so colours stay distinct.
                var k = id * 2_654_435_761 & 0xFF_FFFF
                color = Color(UInt8(k >> 16 & 0xFF), UInt8(k >> 8 & 0xFF), UInt8(k & 0xFF))
                while used.contains(color.packed) {
                    k = (k + 0x10_1010) & 0xFF_FFFF
                    color = Color(UInt8(k >> 16 & 0xFF), UInt8(k >> 8 & 0xFF), UInt8(k & 0xFF))
                }
            }
            used.insert(color.packed)
            entries.append(Entry(id: UInt8(id), name: "class\(id)", color: color))
        }
        return ClassLegend(valid: entries)
    }

    /// For legends built here, whose entries are valid by construction.
    private init(valid entries: [Entry]) {
        var slots = [Int](repeating: -1, count: 256)
        var idByColor: [UInt32: UInt8] = [:]
        for (index, entry) in entries.enumerated() {
            slots[Int(entry.id)] = index
            idByColor[entry.color.packed] = entry.id
        }
        classes = entries
        self.idByColor = idByColor
        classByID = slots
    }

    /// The class with this id, if any.
    public func entry(id: UInt8) -> Entry? {
        let slot = classByID[Int(id)]
        return slot >= 0 ? classes[slot] : nil
    }

    /// True when `value` is a class id of this legend.
    public func contains(id value: UInt8) -> Bool { classByID[Int(value)] >= 0 }

    /// The id of the class painted in `color`, if any.
    public func id(for color: Color) -> UInt8? { idByColor[color.packed] }

    /// The id of the class painted in the colour 0x00RRGGBB, if any.
    public func id(forPackedColor packed: UInt32) -> UInt8? { idByColor[packed] }

    /// The largest class id.
    public var maximumID: UInt8 { classes.last?.id ?? 0 }

    /// "ids 0–5" style summary for error messages.
    var idSummary: String {
        let ids = classes.map(\.id)
        if let first = ids.first, let last = ids.last, Int(last) - Int(first) + 1 == ids.count {
            return "ids \(first)–\(last)"
        }
        return "ids " + ids.map(String.init).joined(separator: ", ")
    }

    public static func == (lhs: ClassLegend, rhs: ClassLegend) -> Bool { lhs.classes == rhs.classes }
}
