namespace VectorFit.Adapters;

/// <summary>An adapter file could not be saved or loaded; the base of <see cref="AdapterFormatException"/> and <see cref="AdapterMismatchException"/>.</summary>
public class AdapterException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong, with which file, and the fix.</param>
    public AdapterException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What went wrong, with which file, and the fix.</param>
    /// <param name="innerException">The underlying error.</param>
    public AdapterException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public AdapterException()
        : base("The adapter file could not be used.")
    {
    }
}

/// <summary>
/// The adapter file is truncated, corrupt (a checksum failed), not a VectorFit adapter, or written by an
/// incompatible version. The model was not changed.
/// </summary>
public sealed class AdapterFormatException : AdapterException
{
    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is wrong with which file.</param>
    public AdapterFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What is wrong with which file.</param>
    /// <param name="innerException">The underlying error (safetensors or JSON).</param>
    public AdapterFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public AdapterFormatException()
        : base("The file is not a valid VectorFit adapter.")
    {
    }
}

/// <summary>
/// The adapter does not fit the model: different adapted layers, shapes, dtypes or keys, or a different base
/// model. <see cref="Problems"/> lists each difference. The model was not changed.
/// </summary>
public sealed class AdapterMismatchException : AdapterException
{
    /// <summary>Creates the exception with a message and the differences found.</summary>
    /// <param name="message">A summary naming the file and the fix.</param>
    /// <param name="problems">Every difference found.</param>
    public AdapterMismatchException(string message, IReadOnlyList<string> problems)
        : base(message)
    {
        Problems = problems;
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">A summary naming the file and the fix.</param>
    public AdapterMismatchException(string message)
        : this(message, Array.Empty<string>())
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">A summary naming the file and the fix.</param>
    /// <param name="innerException">The underlying error.</param>
    public AdapterMismatchException(string message, Exception innerException)
        : base(message, innerException)
    {
        Problems = Array.Empty<string>();
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public AdapterMismatchException()
        : this("The adapter does not fit the model.")
    {
    }

    /// <summary>Every difference found between the adapter and the model.</summary>
    public IReadOnlyList<string> Problems { get; } = Array.Empty<string>();
}
