namespace VectorFit.Serialization;

/// <summary>
/// A safetensors file is truncated, corrupt or not a safetensors file at all (an <see cref="IOException"/>): the message names the
/// file, what is wrong and, where it helps, what to do.
/// </summary>
public sealed class SafetensorsFormatException : IOException
{
    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is wrong with which file.</param>
    public SafetensorsFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that revealed the problem.</summary>
    /// <param name="message">What is wrong with which file.</param>
    /// <param name="innerException">The underlying error (a JSON or I/O error).</param>
    public SafetensorsFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a generic message.</summary>
    public SafetensorsFormatException()
        : base("The file is not a valid safetensors file.")
    {
    }
}
