namespace VectorFit.Surgery;

/// <summary>Matching of dotted module names (<c>encoder.layer.0.attention.self.query</c>) against targets.</summary>
internal static class NameMatch
{
    /// <summary>Whether <paramref name="name"/> equals <paramref name="suffix"/> or ends with <c>"." + suffix</c>.</summary>
    public static bool HasSuffix(string name, string suffix)
        => name.Length == suffix.Length
            ? string.Equals(name, suffix, StringComparison.Ordinal)
            : name.Length > suffix.Length && name.EndsWith(suffix, StringComparison.Ordinal) && name[name.Length - suffix.Length - 1] == '.';

    /// <summary>Whether <paramref name="name"/> is <paramref name="ancestor"/> or lies inside it.</summary>
    public static bool IsWithin(string name, string ancestor)
        => name.Length == ancestor.Length
            ? string.Equals(name, ancestor, StringComparison.Ordinal)
            : name.Length > ancestor.Length && name.StartsWith(ancestor, StringComparison.Ordinal) && name[ancestor.Length] == '.';

    /// <summary>Throws unless <paramref name="value"/> is a non-empty dotted name without blanks or empty segments.</summary>
    public static void ValidateDottedName(string? value, string what, string parameterName)
    {
        if (string.IsNullOrEmpty(value))
        {
            throw new ArgumentException($"{what} is empty; give a module name such as 'encoder.layer.0.attention.self.query' or a suffix such as 'attention.self.query'.", parameterName);
        }

        if (value.Any(char.IsWhiteSpace) || value.StartsWith('.') || value.EndsWith('.') || value.Contains("..", StringComparison.Ordinal))
        {
            throw new ArgumentException($"{what} '{value}' is not a dotted module name (no blanks, no leading, trailing or doubled dots).", parameterName);
        }
    }

    /// <summary>A short list of names for error messages: the first few, and how many in all.</summary>
    public static string Sample(IReadOnlyCollection<string> names, int count = 8)
    {
        if (names.Count == 0)
        {
            return "(none)";
        }

        var shown = string.Join(", ", names.Take(count).Select(n => $"'{n}'"));
        return names.Count > count ? $"{shown}, … ({names.Count} in all)" : shown;
    }
}
