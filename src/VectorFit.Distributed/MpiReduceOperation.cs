namespace VectorFit.Distributed;

/// <summary>The reduction an all-reduce applies element-wise across ranks.</summary>
public enum MpiReduceOperation
{
    /// <summary><c>MPI_SUM</c>: the sum over ranks.</summary>
    Sum,

    /// <summary><c>MPI_MAX</c>: the largest value over ranks.</summary>
    Max,

    /// <summary><c>MPI_MIN</c>: the smallest value over ranks.</summary>
    Min,
}
