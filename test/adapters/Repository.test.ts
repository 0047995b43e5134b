import { Layer } from "effect"
import * as MemoryRepository from "../../src/adapters/memory/MemoryRepository.ts"
import * as PostgresRepository from "../../src/adapters/postgres/PostgresRepository.ts"
import { testDatabase } from "../support/database.ts"
import { repositoryContract } from "./repositoryContract.ts"

repositoryContract("memory", MemoryRepository.layer)
repositoryContract("postgres", PostgresRepository.layer.pipe(Layer.provide(testDatabase())))
