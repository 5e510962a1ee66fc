namespace VectorFit.Transformers.Tokenization;

/// <summary>The type of a SentencePiece vocabulary entry (<c>ModelProto.SentencePiece.Type</c>).</summary>
public enum SentencePieceType
{
    /// <summary>An ordinary piece matched in text.</summary>
    Normal = 1,

    /// <summary>The unknown piece.</summary>
    Unknown = 2,

    /// <summary>A control symbol such as <c>[CLS]</c> or <c>&lt;s&gt;</c>, never matched in text.</summary>
    Control = 3,

    /// <summary>A user-defined symbol, always matched in text when present.</summary>
    UserDefined = 4,

    /// <summary>An unused entry, never matched in text.</summary>
    Unused = 5,

    /// <summary>A byte-fallback piece <c>&lt;0xXX&gt;</c>.</summary>
    Byte = 6,
}

/// <summary>One entry of a SentencePiece vocabulary; its index in the model is its id.</summary>
/// <param name="Piece">The piece text, with U+2581 (▁) standing for a space.</param>
/// <param name="Score">The unigram log probability (higher is more likely).</param>
/// <param name="Type">The entry's type.</param>
public readonly record struct SentencePieceEntry(string Piece, float Score, SentencePieceType Type);
