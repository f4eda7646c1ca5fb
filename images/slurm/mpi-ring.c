/*
 * mpi-ring: a small MPI program whose output a test can check.
 *
 * 1. A token travels once around the ring 0 -> 1 -> ... -> n-1 -> 0; every
 *    rank adds 1, so rank 0 receives n.
 * 2. MPI_Allreduce sums (rank + 1) over all ranks: n * (n + 1) / 2.
 * 3. Rank 0 gathers every rank's host name.
 *
 * Rank 0 prints one line:
 *   mpi-ring size=3 ring=3 allreduce=6 expected=6 hosts=c1,c2,c3 result=OK
 * and the program exits 0 only when both results are right.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HOSTLEN 64

int main(int argc, char **argv)
{
	int rank, size;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);

	long token = 0;
	if (size == 1) {
		token = 1;
	} else if (rank == 0) {
		token = 1;
		MPI_Send(&token, 1, MPI_LONG, 1, 0, MPI_COMM_WORLD);
		MPI_Recv(&token, 1, MPI_LONG, size - 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	} else {
		MPI_Recv(&token, 1, MPI_LONG, rank - 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		token += 1;
		MPI_Send(&token, 1, MPI_LONG, (rank + 1) % size, 0, MPI_COMM_WORLD);
	}

	/* only rank 0 holds the ring result; share it so every rank exits alike */
	MPI_Bcast(&token, 1, MPI_LONG, 0, MPI_COMM_WORLD);

	long mine = rank + 1, sum = 0;
	MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);

	char host[HOSTLEN];
	memset(host, 0, sizeof host);
	gethostname(host, sizeof host - 1);
	char *all = NULL;
	if (rank == 0)
		all = calloc((size_t)size, HOSTLEN);
	MPI_Gather(host, HOSTLEN, MPI_CHAR, all, HOSTLEN, MPI_CHAR, 0, MPI_COMM_WORLD);

	long expected = (long)size * (size + 1) / 2;
	int ok = (token == size) && (sum == expected);
	if (rank == 0) {
		printf("mpi-ring size=%d ring=%ld allreduce=%ld expected=%ld hosts=", size, token, sum, expected);
		for (int i = 0; i < size; i++)
			printf("%s%s", i ? "," : "", all + (size_t)i * HOSTLEN);
		printf(" result=%s\n", ok ? "OK" : "FAIL");
		fflush(stdout);
		free(all);
	}
	MPI_Finalize();
	return ok ? 0 : 1;
}
