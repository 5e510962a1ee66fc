namespace VectorFit.Distributed;

/// <summary>
/// An MPI failure: the library could not be loaded or initialised, a collective returned an error, or a collective did not
/// complete within <see cref="MpiOptions.Timeout"/> because a rank died or hung.
/// </summary>
public sealed class MpiException : Exception
{
    /// <summary>Creates the exception with no message.</summary>
    public MpiException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What failed, on which rank, and what to do.</param>
    public MpiException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    /// <param name="message">What failed, on which rank, and what to do.</param>
    /// <param name="innerException">The cause.</param>
    public MpiException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
